"""The feature store (Feast): bureau fields and client history by client key.

* :mod:`.settings`: where the repository lives and which online store it uses;
* :mod:`.repository`: the feature repository generated from the canonical schema (entity
  ``client``, the bureau view, the client-history view) and its ``feature_store.yaml``;
* :mod:`.tables`: the offline tables (Parquet) the import stage and the sidecar write;
* :mod:`.store`: apply, materialise, push, status and point-in-time training joins;
* :mod:`.online`: :class:`~.online.FeastLookup`, the serving lookup (``FeatureLookup``).

Nothing here imports Feast at import time: each function imports it when called, so serving
without a feature store never loads it.
"""
