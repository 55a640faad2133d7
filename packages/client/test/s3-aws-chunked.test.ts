// Goal: unsigned aws-chunked bodies (what SDKs send for streams: STREAMING-UNSIGNED-PAYLOAD-
// TRAILER) decode to their data however the bytes are split on arrival, their trailers are
// collected, and malformed framing is IncompleteBody. Signed chunks are covered by the SigV4
// known answers. Method: a small body split at every byte boundary, into two and three pieces.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeAwsChunked, type ChunkedResult } from '../src/s3/aws-chunked.ts';
import { S3Error } from '../src/s3/errors.ts';

const DATA = Buffer.from('The quick brown fox jumps over the lazy dog; then it rests.');
const BODY = Buffer.from(`14\r\n${DATA.subarray(0, 20).toString()}\r\n` +
  `27\r\n${DATA.subarray(20).toString()}\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n`);

async function decode(pieces: Buffer[], decodedLengthBytes: number | null = DATA.length):
  Promise<{ data: Buffer; result: ChunkedResult }> {
  const result: ChunkedResult = { trailers: new Map(), decodedBytes: 0 };
  const out: Buffer[] = [];
  const source = (async function* () { yield* pieces; })();
  for await (const b of decodeAwsChunked(source, { signing: null, signedTrailer: false,
    decodedLengthBytes },
    result)) out.push(Buffer.from(b));
  return { data: Buffer.concat(out), result };
}

async function codeOf(pieces: Buffer[], length: number | null = DATA.length): Promise<string> {
  try {
    await decode(pieces, length);
  } catch (err) {
    return err instanceof S3Error ? err.code : String(err);
  }
  return 'ok';
}

test('every split into two and three pieces gives the data and the trailer', async () => {
  for (let i = 0; i <= BODY.length; i++) {
    const { data, result } = await decode([BODY.subarray(0, i), BODY.subarray(i)]);
    assert.equal(data, DATA, `split at ${i}`);
    assert.is(result.trailers.get('x-amz-checksum-crc32'), 'AAAAAA==');
    assert.is(result.decodedBytes, DATA.length);
  }
  for (let i = 1; i < BODY.length; i += 3) {
    for (let j = i; j < BODY.length; j += 7) {
      const { data } = await decode([BODY.subarray(0, i), BODY.subarray(i, j), BODY.subarray(j)]);
      assert.equal(data, DATA, `split at ${i} and ${j}`);
    }
  }
});

test('malformed framing is IncompleteBody', async () => {
  assert.is(await codeOf([BODY.subarray(0, BODY.length - 2)]), 'IncompleteBody', 'no final CRLF');
  assert.is(await codeOf([Buffer.concat([BODY, Buffer.from('0\r\n')])]), 'IncompleteBody',
    'bytes after the end');
  assert.is(await codeOf([Buffer.from('zz\r\nabc')]), 'IncompleteBody', 'not a size');
  assert.is(await codeOf([Buffer.from('3\r\nabcX\r\n0\r\n\r\n')], 3), 'IncompleteBody',
    'no CRLF after data');
  assert.is(await codeOf([Buffer.from('3\r\nabc\r\n0\r\n\r\n')], 4), 'IncompleteBody',
    'short of its length');
  assert.is(await codeOf([Buffer.from('3\r\nabc\r\n0\r\n\r\n')], null), 'ok');
  assert.is(await codeOf([Buffer.from(`${'1'.repeat(5000)}\r\n`)]), 'IncompleteBody',
    'endless line');
  assert.is(await codeOf([Buffer.from('2000000\r\n')]), 'IncompleteBody', 'a 32 MiB chunk');
});

test.run();
