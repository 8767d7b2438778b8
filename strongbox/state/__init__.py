"""The applied state machine: one LMDB environment, record codecs, apply()."""
