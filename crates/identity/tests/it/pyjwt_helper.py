# PyJWT on the other side of causeway's JWT tests. Commands:
#   keygen ALG KEYFILE KID          -> writes a private key, prints its public JWK
#   sign ALG KEYFILE KID CLAIMS     -> prints a token (ALG may be "none" or "HS256")
#   verify JWKS TOKEN AUD           -> prints the claims, or "INVALID <error>" and exits 3
#   fetch-verify ISSUER CAFILE TOKEN AUD
#                                   -> discovery and JWKS over HTTPS, then as verify
import json
import ssl
import sys
import urllib.request

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def keygen(alg, path, kid):
    if alg.startswith(("RS", "PS")):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1() if alg == "ES256" else ec.SECP384R1())
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    jwk = json.loads(jwt.get_algorithm_by_name(alg).to_jwk(key.public_key()))
    jwk.update(kid=kid, use="sig", alg=alg)
    print(json.dumps(jwk))


def sign(alg, path, kid, claims):
    claims = json.loads(claims)
    if alg == "none":
        print(jwt.encode(claims, None, algorithm="none", headers={"kid": kid}))
    elif alg.startswith("HS"):
        print(jwt.encode(claims, "a-shared-secret-of-enough-length!", algorithm=alg, headers={"kid": kid}))
    else:
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        print(jwt.encode(claims, key, algorithm=alg, headers={"kid": kid}))


def verify(jwks, token, aud):
    keys = jwt.PyJWKSet.from_dict(jwks)
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    try:
        print(json.dumps(jwt.decode(token, key.key, algorithms=["ES256"], audience=aud)))
    except jwt.InvalidTokenError as e:
        print("INVALID", type(e).__name__, e)
        sys.exit(3)


def fetch_verify(issuer, cafile, token, aud):
    ctx = ssl.create_default_context(cafile=cafile)
    def get(url):
        with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
            return json.load(r)
    disco = get(issuer + "/.well-known/openid-configuration")
    assert disco["issuer"] == issuer, disco
    verify(get(disco["jwks_uri"]), token, aud)


cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "keygen":
    keygen(*args)
elif cmd == "sign":
    sign(*args)
elif cmd == "verify":
    verify(json.loads(args[0]), args[1], args[2])
elif cmd == "fetch-verify":
    fetch_verify(*args)
else:
    sys.exit("unknown command " + cmd)
