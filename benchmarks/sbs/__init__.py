"""Helpers of benchmarks/side_by_side.py (StrongBox vs etcd in the same run).

    etcd.py       EtcdCluster: three etcd members on loopback (TLS clients and peers)
    systems.py    the two systems behind one interface (start, fill, leader/follower, RSS)
    load.py       wrk driver (parses the Lua done() JSON) and the open-loop generator
    phases.py     the phases as data (add one there)
    report.py     machine info, JSON and markdown
"""
