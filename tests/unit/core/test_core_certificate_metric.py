"""The API's certificate expiry gauge (the certificate-expiry alert reads it)."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from prometheus_client.parser import text_string_to_metric_families

from fabric.edge.metrics import EdgeMetrics
from fabric.edge.tls import ensure_dev_pki


def test_expiry_of_the_served_certificate_is_exported(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path / "tls")
    metrics = EdgeMetrics()
    metrics.observe_certificate(pki.server_cert)
    expected = x509.load_pem_x509_certificate(pki.server_cert).not_valid_after_utc.timestamp()
    [family] = [f for f in text_string_to_metric_families(metrics.text())
                if f.name == "fabric_tls_certificate_expiry_timestamp_seconds"]
    [sample] = family.samples
    assert sample.value == expected
    assert sample.labels["node"]  # one series per gateway node: the merge must not add them
