// Goal: master address lists parse (default port, IPv6, arrays) and bad ones are EINVAL.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FsError } from '@antlerfs/protocol';
import {
  formatMasterAddress, MASTER_ADDRESSES_MAX, parseMasterList, parseMasterOption,
} from '../src/master-address.ts';

const isEinval = (e: unknown): boolean => (e as FsError).code === 'EINVAL';

test('parseMasterList: host:port lists, default port, IPv6', () => {
  const two = parseMasterList('10.0.0.1:9000, m2');
  assert.equal(two, [{ host: '10.0.0.1', port: 9000 }, { host: 'm2', port: 9421 }]);
  assert.equal(parseMasterList('[::1]:7'), [{ host: '::1', port: 7 }]);
  assert.is(formatMasterAddress({ host: '::1', port: 7 }), '[::1]:7');
  assert.is(formatMasterAddress(two[1]!), 'm2:9421');
  assert.throws(() => parseMasterList('h:99999'), isEinval);
  assert.throws(() => parseMasterList(' , '), isEinval);
  const many = Array.from({ length: MASTER_ADDRESSES_MAX + 1 }, (_, i) => `h${i}`).join(',');
  assert.throws(() => parseMasterList(many), isEinval);
});

test('parseMasterOption: a string, a list in a string, or an array of strings', () => {
  const expected = [{ host: 'a', port: 1 }, { host: 'b', port: 2 }];
  assert.equal(parseMasterOption('a:1,b:2'), expected);
  assert.equal(parseMasterOption(['a:1', 'b:2']), expected);
  assert.throws(() => parseMasterOption(undefined), isEinval);
  assert.throws(() => parseMasterOption([1, 2]), isEinval);
  assert.throws(() => parseMasterOption([]), isEinval);
});

test.run();
