import { InvalidImageError } from '../../src/errors/index.js';
import { chainIDs } from '../../src/image/index.js';

// Vector computed by hand with coreutils:
//   A=$(printf a | sha256sum)  -> ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb
//   B=$(printf b | sha256sum)  -> 3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d
//   C=$(printf c | sha256sum)  -> 2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6
//   printf "sha256:$A sha256:$B" | sha256sum          -> 51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676
//   printf "sha256:<that> sha256:$C" | sha256sum      -> 2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106
const A = 'sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb';
const B = 'sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d';
const C = 'sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6';

test('chain IDs follow the OCI image spec (checked against sha256sum)', () => {
  expect(chainIDs([A, B, C])).toEqual([
    A,
    'sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676',
    'sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106',
  ]);
});

test('the same diff IDs in another order give other chain IDs; a shared base gives a shared first ID', () => {
  const [x0, x1] = chainIDs([A, B]);
  const [y0, y1] = chainIDs([A, C]);
  const [z0, z1] = chainIDs([B, A]);
  expect(x0).toBe(y0);
  expect(x1).not.toBe(y1);
  expect(z0).not.toBe(x0);
  expect(z1).not.toBe(x1);
  expect(chainIDs([])).toEqual([]);
});

test('malformed diff IDs are refused, naming the position', () => {
  expect(() => chainIDs([A, 'sha256:xyz'])).toThrow(InvalidImageError);
  expect(() => chainIDs([A, 'sha256:xyz'])).toThrow(/diffID 1 "sha256:xyz"/);
  expect(() => chainIDs([`md5:${'a'.repeat(32)}`])).toThrow(/unsupported algorithm "md5"/);
});
