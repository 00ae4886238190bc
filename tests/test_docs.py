from dripline.docs import STATE_MACHINE_DOC, state_machine_markdown


def test_state_machine_doc_matches_the_code():
    assert STATE_MACHINE_DOC.read_text() == state_machine_markdown(), "run 'dripline docs' to regenerate"
