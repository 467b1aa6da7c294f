"""Engine kernels: member months, attribution, total cost of care, risk, stratification.

Pure, vectorised functions over canonical Arrow tables / Polars frames, one shard of members
at a time (``docs/kernels.md``):

* :mod:`.rules` the options (mirrors of the contract document's sections);
* :mod:`.member_months` member months per member x group, in exact member-month units;
* :mod:`.attribution` member -> entity with evidence (algorithm at the top of the module);
* :mod:`.cost` claim lines -> groups, raw cost, ``service_outside_enrollment`` rejects;
* :mod:`.member_costs` completion factor, truncation (two-phase percentile), split by group;
* :mod:`.risk` scores, renormalisation, entity risk, the capped risk ratio;
* :mod:`.stratify` aggregates per contract x entity x group, per entity, by stratifiers;
* :mod:`.pipeline` the chain per shard in two phases, and ``run_contract`` for one process.
"""
