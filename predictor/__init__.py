"""Code-aware predictor of a training run's final accuracy, with 80% intervals and early-stop decisions.

Modules, in data-flow order:
- ``corpus.lemur_stats``: LEMUR stat files -> runs (learning curves), cached in SQLite.
- ``families``: name stems + constant-blind AST hashes -> families; family-grouped split files (``splits/``).
- ``code_features`` / ``dynamic``: static features of the code; optional sandbox params/FLOPs.
- ``features``: one feature row per (run, k); ``models``: last value, curve fit, LightGBM (+code, quantiles, conformal).
- ``lora`` / ``ensemble``: MiniLM + LoRA regressor over code text; averaged ensemble.
- ``evaluate`` / ``train``: metrics per model, dataset and k; fitting, caching and saving predictors.
- ``early_stop`` / ``replay`` / ``optuna_pruner`` / ``lightning_callback``: the stop rule, its replay benchmark
  against Optuna's pruners, and integrations.
- ``api``: ``Predictor`` (predict, should_stop, report, reload_if_changed), ``load_or_train_default``.
"""
