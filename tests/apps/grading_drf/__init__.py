"""A real Django REST Framework app: the seed runbook's grading API, the way a DRF project
writes it. relgate's smoke scenarios are tested against it (tests/smoke/test_drf_app.py) and the
smoke benchmark uses it as a target (bench/smoke_bench.py).

Layout is a normal Django project (``project/`` settings, ``grading/`` app); this directory is
put on ``sys.path`` (gunicorn ``--chdir``), never imported by relgate. :mod:`.server` starts it.
"""
