"""Events: from a new object in the landing bucket to a flow run.

``notifications`` parses S3 notifications (SQS message bodies) into Prefect events (no
I/O); ``bridge`` the service that long-polls SQS and posts them (``python -m
flows.bridge``); ``trigger`` turns an upload event's object into the run's overrides.
"""
