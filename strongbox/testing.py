"""What tests and benchmarks use to run real nodes (users' tests too).

The implementation is `strongbox.devcluster`, which `strongbox cluster` also
uses; nothing inside the package imports this module (the layering test checks).
"""

from strongbox.devcluster import (
    CertificateAuthority,
    LocalCluster,
    ServerProcess,
    TlsFiles,
    free_port,
    make_tls,
)

__all__ = ["CertificateAuthority", "LocalCluster", "ServerProcess", "TlsFiles", "free_port",
           "make_tls"]
