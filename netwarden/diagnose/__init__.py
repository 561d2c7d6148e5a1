"""`netwarden probe HOST:PORT`: every layer between this host and one endpoint, phase by phase
(issue #14). inputs.py parses the command line's values, phases.py runs the probes (each through
the Source, so a support bundle carries them), verdicts.py judges them with the checks' own rules,
render.py prints the table or the JSON document."""
