"""System tests: the fault corpus lives beside them; the catch rate is printed after a run."""



def pytest_terminal_summary(terminalreporter):
    try:
        from faults import FAULTS
        from test_faults import CAUGHT
    except ImportError:
        return
    ran = [r for r in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
           if "test_fault_is_caught" in r.nodeid]
    if ran:
        terminalreporter.write_line(f"fault catch rate: {len(CAUGHT)}/{len(ran)} seeded faults caught with the "
                                    f"right stage and module ({len(FAULTS)} in the corpus)")
