"""Certificates and keys for the dev cluster: one CA, a serving cert, client certs.

ECDSA P-256 keys keep generation instant; the service-account signing key is RSA
because every Kubernetes client verifies RS256 tokens.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Client identities: file stem -> (common name, organisation or None).
CLIENTS = {
    "admin": ("tiltrun-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", None),
    "scheduler": ("system:kube-scheduler", None),
    # kwok plays every kubelet; it patches pod and node status and renews leases.
    "kwok": ("system:kwok", "system:masters"),
    # kube-apiserver asking a kubelet (kwok) for logs.
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
}


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _sign(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
    *,
    now: dt.datetime,
    until: dt.datetime,
) -> tuple[bytes, bytes]:
    """A fresh key and a certificate for it signed by the CA, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def issue_client_certificate(
    folder: Path, common_name: str, organisation: str | None = "system:masters"
) -> tuple[bytes, bytes]:
    """A client certificate and key (PEM) for another identity, signed by the CA in ``folder``.

    The benchmark gives the operator and each baseline a user name of its own, so the
    API server's audit log tells their requests apart.
    """
    ca_key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{folder / 'ca.key'} is not the dev cluster's ECDSA CA key")
    ca_cert = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    return _sign(
        ca_key,
        ca_cert.subject,
        _name(common_name, organisation),
        ExtendedKeyUsageOID.CLIENT_AUTH,
        now=now,
        until=now + dt.timedelta(days=30),
    )


def write_pki(folder: Path) -> None:
    """Write ca, apiserver, client and service-account keys and certs into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=365)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("tiltrun-dev-cluster-ca")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.key").write_bytes(_pem_key(ca_key))
    (folder / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def issue(
        stem: str,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        sans: list[x509.GeneralName] | None = None,
    ) -> None:
        cert, key = _sign(ca_key, ca_name, subject, usage, sans, now=now, until=until)
        (folder / f"{stem}.key").write_bytes(key)
        (folder / f"{stem}.crt").write_bytes(cert)

    issue(
        "apiserver",
        _name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default"),
            x509.DNSName("kubernetes.default.svc"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("10.96.0.1")),
        ],
    )
    # kwok serving as the nodes' kubelet, on 127.0.0.1 (the nodes' InternalIP).
    issue(
        "kwok-serving",
        _name("kwok"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    for stem, (common, org) in CLIENTS.items():
        issue(stem, _name(common, org), ExtendedKeyUsageOID.CLIENT_AUTH)

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (folder / "sa.key").write_bytes(_pem_key(sa_key))
    (folder / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
