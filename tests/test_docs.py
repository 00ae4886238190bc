from service.docs import COMPLIANCE_DOC, STATE_MACHINE_DOC, compliance_markdown, state_machine_markdown


def test_state_machine_doc_matches_the_code():
    assert STATE_MACHINE_DOC.read_text() == state_machine_markdown(), "run 'dripline docs' to regenerate"


def test_compliance_doc_matches_the_code():
    text = compliance_markdown()
    assert COMPLIANCE_DOC.read_text() == text, "run 'dripline docs' to regenerate"
    assert "| 1 | `suppression` |" in text and "| FL | 08:00-20:00 | 3 | - |" in text
