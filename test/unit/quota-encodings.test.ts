// The ioctl and quotactl request numbers groot computes must equal the kernel's uapi values.
import { IO, IOR, IOW, IOWR } from '../../src/sys/ioctl.js';
import { qcmd, PRJQUOTA, USRQUOTA } from '../../src/sys/quotactl.js';

test('ioctl encodings match the kernel headers', () => {
  const X = 'X'.charCodeAt(0);
  expect(IOR(X, 31, 28)).toBe(0x801c581f); // FS_IOC_FSGETXATTR
  expect(IOW(X, 32, 28)).toBe(0x401c5820); // FS_IOC_FSSETXATTR
  expect(IOW(0x94, 14, 4096)).toBe(0x5000940e); // BTRFS_IOC_SUBVOL_CREATE
  expect(IOW(0x94, 15, 4096)).toBe(0x5000940f); // BTRFS_IOC_SNAP_DESTROY
  expect(IOWR(0x94, 17, 4096)).toBe(0xd0009411); // BTRFS_IOC_TREE_SEARCH
  expect(IOWR(0x94, 40, 16)).toBe(0xc0109428); // BTRFS_IOC_QUOTA_CTL
  expect(IOR(0x94, 43, 48)).toBe(0x8030942b); // BTRFS_IOC_QGROUP_LIMIT
  expect(IO(0x94, 8)).toBe(0x9408); // BTRFS_IOC_SYNC
});

test('quotactl commands match the kernel headers', () => {
  expect(qcmd(0x5804, PRJQUOTA)).toBe(0x580402); // QCMD(Q_XSETQLIM, PRJQUOTA)
  expect(qcmd(0x5803, PRJQUOTA)).toBe(0x580302); // QCMD(Q_XGETQUOTA, PRJQUOTA)
  expect(qcmd(0x800007, USRQUOTA)).toBe(0x80000700); // QCMD(Q_GETQUOTA, USRQUOTA)
});
