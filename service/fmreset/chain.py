"""X.509 checks for the auth-reset proof with python3-cryptography (Debian): one-level chain to a configured JPKI CA
(issuer name match + RSA PKCS#1 v1.5 signature), validity at the service's clock, end-entity only. (Verdicts are
checked by libfacematch's verifier, not here.)"""

import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils


def load(data):
    """A certificate from DER or PEM bytes (ValueError when it is neither)."""
    if not isinstance(data, (bytes, bytearray)) or not data or len(data) > 16384:
        raise ValueError("certificate missing or larger than 16 KiB")
    data = bytes(data)
    try:
        return x509.load_pem_x509_certificate(data) if data.lstrip().startswith(b"-----") \
            else x509.load_der_x509_certificate(data)
    except ValueError as e:
        raise ValueError(f"not an X.509 certificate ({e})") from None


def _utc(dt):
    return dt.replace(tzinfo=datetime.timezone.utc) if dt.tzinfo is None else dt


def check(cert, cas, now):
    """None when cert is a valid end-entity certificate issued by one of cas at Unix time now, else why not."""
    t = datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc)
    if not (_utc(cert.not_valid_before) <= t <= _utc(cert.not_valid_after)):
        return "not valid at this time"
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "is a CA certificate"
    except x509.ExtensionNotFound:
        pass
    for ca in cas:
        if ca.subject != cert.issuer:
            continue
        key = ca.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            continue
        try:
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        except InvalidSignature:
            continue
        if not (_utc(ca.not_valid_before) <= t <= _utc(ca.not_valid_after)):
            return "its CA certificate is not valid at this time"
        return None
    return "not issued by a configured JPKI CA"


def verify_digest(cert, digest, signature):
    """RSASSA-PKCS1-v1_5 over DigestInfo(SHA-256, digest) with the certificate's key (as the JPKI card signs)."""
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048 or not isinstance(signature, (bytes, bytearray)):
        return False
    try:
        key.verify(bytes(signature), digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False
