from service.docs import COMPLIANCE_DOC, STATE_MACHINE_DOC, compliance_markdown, state_machine_markdown


def test_state_machine_doc_matches_the_code():
    assert STATE_MACHINE_DOC.read_text() == state_machine_markdown(), "run 'dripline docs' to regenerate"


def test_compliance_doc_matches_the_code():
    text = compliance_markdown()
    assert COMPLIANCE_DOC.read_text() == text, "run 'dripline docs' to regenerate"
    assert "| 1 | `suppression` |" in text and "| FL | 08:00-20:00 | 3 | - |" in text


def test_the_production_env_template_lists_every_setting_and_marks_the_secrets():
    from pydantic import SecretStr

    from service.docs import ENV_TEMPLATE, env_template
    from service.settings import Settings

    text = env_template()
    assert ENV_TEMPLATE.read_text() == text, "run 'dripline docs' to regenerate"
    rows = text.splitlines()
    for name, spec in Settings.model_fields.items():
        [line] = [i for i, row in enumerate(rows) if row.lstrip("# ").startswith(f"DRIPLINE_{name.upper()}=")]
        comment = rows[line - 1]
        assert comment.startswith("# ") and ("(SECRET)" in comment) == (spec.annotation is SecretStr), name
    assert "DRIPLINE_ENVIRONMENT=production\n" in text and "DRIPLINE_CHANNEL=live\n" in text
