"""Operations: register deployments and the work pool (``deploy``, ``python -m
flows.deploy``), the ECR login step of ``prefect.yaml`` (``ecr``), and the alerting
automations (``automations``, ``python -m flows.automations``)."""
