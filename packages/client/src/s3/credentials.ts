// The gateway's access keys: a file of `ACCESS_KEY SECRET_KEY` lines (S3_CREDENTIALS_FILE),
// '#' starting a comment. Read at start and again on SIGHUP; a bad file names file:line and
// is refused (at start the gateway does not start; on reload the keys in force stay).
import fs from 'node:fs';

/** Keys in one file at most: the whole file is held in memory. */
export const CREDENTIALS_MAX = 100_000;

export class CredentialsError extends Error {
  override name = 'CredentialsError';
}

export function parseCredentials(text: string, file: string): Map<string, string> {
  const keys = new Map<string, string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const parts = line.split(/\s+/);
    const where = `${file}:${i + 1}`;
    if (parts.length !== 2) {
      throw new CredentialsError(`${where}: expected "ACCESS_KEY SECRET_KEY"`);
    }
    const [access, secret] = parts as [string, string];
    if (!/^[A-Za-z0-9._~+=-]{3,128}$/.test(access)) {
      throw new CredentialsError(
        `${where}: the access key must be 3..128 of A-Z a-z 0-9 . _ ~ + = -`);
    }
    if (secret.length < 1 || secret.length > 256) {
      throw new CredentialsError(`${where}: the secret key must be 1..256 characters`);
    }
    if (keys.has(access)) throw new CredentialsError(`${where}: access key ${access} repeats`);
    if (keys.size >= CREDENTIALS_MAX) {
      throw new CredentialsError(`${where}: more than ${CREDENTIALS_MAX} keys`);
    }
    keys.set(access, secret);
  }
  return keys;
}

/** The keys of `file`; none when no file is configured. */
export function loadCredentials(file: string): Map<string, string> {
  if (file === '') return new Map();
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CredentialsError(`cannot read ${file}: ${(err as Error).message}`);
  }
  return parseCredentials(text, file);
}
