"""Events: from a new object in the landing bucket to a flow run.

``landing`` holds S3's rules for bucket names, keys and ETags, and the landing allow-list
every event value is checked against; ``notifications`` parses S3 notifications (SQS
message bodies) into Prefect events (no I/O); ``bridge`` the service that long-polls SQS
and posts them (``python -m flows.bridge``); ``trigger`` turns an upload event's object
into the run's overrides.
"""
