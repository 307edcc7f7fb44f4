"""Events: from new objects in the landing bucket to a flow run.

``landing`` holds S3's rules for bucket names, keys and ETags, and the landing allow-list
every event value is checked against; ``notifications`` parses S3 notifications (SQS
message bodies) into Prefect events (no I/O); ``batching`` collects the files that land
together under a prefix into one upload batch (no I/O); ``bridge`` the service that
long-polls SQS and posts the batches (``python -m flows.bridge``); ``trigger`` turns an
uploaded object into the run's overrides, ``batch_trigger`` a batch.
"""
