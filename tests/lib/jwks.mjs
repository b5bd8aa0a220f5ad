// A local stand-in for Cloudflare Access in tests: RSA keys generated with
// node:crypto, a JWKS served over HTTP on 127.0.0.1, and RS256 token minting
// with any claims (so tests can make wrong-audience, wrong-issuer, expired and
// badly signed tokens too).
//
//   import { startJwks } from '../lib/jwks.mjs';
//   const access = await startJwks({ teamDomain: 'sas-test.cloudflareaccess.com', aud: 'aud-1' });
//   const token = access.mint({ email: 'me@example.com' });
//   ... fetch(url, { headers: { 'cf-access-jwt-assertion': token } })
//   await access.stop();

import { createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** A fresh RSA-2048 signing key with a random kid. */
export function newKey() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(8).toString('hex');
  const jwk = publicKey.export({ format: 'jwk' });
  return { kid, privateKey, jwk: { kty: 'RSA', kid, alg: 'RS256', use: 'sig', n: jwk.n, e: jwk.e } };
}

/** Signs `claims` with RS256 under `key` (header kid = key.kid unless overridden). */
export function signJwt(key, claims, { kid = key.kid, alg = 'RS256' } = {}) {
  const header = b64url(JSON.stringify({ alg, kid, typ: 'JWT' }));
  const payload = b64url(JSON.stringify(claims));
  const signer = createSign('RSA-SHA256');
  signer.update(`${header}.${payload}`);
  return `${header}.${payload}.${b64url(signer.sign(key.privateKey))}`;
}

/**
 * Starts a JWKS server on 127.0.0.1 (random port).
 * @param {{teamDomain: string, aud: string}} opts
 */
export async function startJwks({ teamDomain, aud }) {
  const state = { keys: [newKey()], fetches: 0, failing: false };
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/cdn-cgi/access/certs') {
      state.fetches += 1;
      if (state.failing) {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"injected"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: state.keys.map((k) => k.jwk) }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const issuer = `https://${teamDomain}`;

  /** A token signed by the current first key; `claims` override the defaults. */
  const mint = (claims = {}, { key = state.keys[0], kid } = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return signJwt(key, {
      iss: issuer,
      aud: [aud],
      sub: 'user-1',
      email: 'trader@example.com',
      iat: now,
      nbf: now - 5,
      exp: now + 600,
      ...claims,
    }, { kid: kid ?? key.kid });
  };

  return {
    url: `http://127.0.0.1:${port}/cdn-cgi/access/certs`,
    issuer,
    aud,
    teamDomain,
    mint,
    /** Replaces the served keys by a new one (key rotation); returns it. */
    rotate: () => {
      const key = newKey();
      state.keys = [key];
      return key;
    },
    fetches: () => state.fetches,
    /** While `true`, the JWKS answers HTTP 500. */
    setFailing: (on) => { state.failing = on; },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
