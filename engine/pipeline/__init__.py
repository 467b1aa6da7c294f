"""The settlement pipeline: validated shard tables -> kernels -> reduce -> contract settlement.

The same functions run in one process (:func:`settle.engine.pipeline.run.settle_in_process`)
and, shard by shard, on a cluster (``settle.cluster``): a job's result does not depend on how
its members were sharded.
"""
