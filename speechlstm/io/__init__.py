"""Input and output: audio (:mod:`.audio`), manifests (:mod:`.manifest`), result formats
(:mod:`.formats`) and atomic file writing (:mod:`.atomic`)."""
