"""Deploy: bring an environment's stack to a version, gate on real health, roll back on failure.

Public doors: :func:`relgate.deploy.stage.deploy`, :func:`relgate.deploy.stage.redeploy_last_good`
and :func:`relgate.deploy.state.read_last_good`. Only this package talks to Docker.
"""
