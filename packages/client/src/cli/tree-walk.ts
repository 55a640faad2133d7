// Walks a directory tree without recursion: an explicit stack, children after (pre-order) or
// before (post-order, for removal) their directory, and a bound on the entries visited.
import { FsError, InodeType, type Attr, type Client } from '../index.ts';

/** Entries one walk may visit before it stops with EFBIG. */
export const TREE_ENTRIES_MAX = 10_000_000;

export interface TreeEntry {
  path: string;
  attr: Attr;
}

function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Visits `root` and everything under it; with `postOrder`, directories after their contents. */
export async function walkTree(
  client: Client, root: string, postOrder: boolean, visit: (entry: TreeEntry) => Promise<void>,
): Promise<void> {
  const stack: { entry: TreeEntry; expanded: boolean }[] = [
    { entry: { path: root, attr: await client.lstat(root) }, expanded: false },
  ];
  let visited = 0;
  while (stack.length > 0) {
    // Each entry is popped at most twice (a directory before and after its children).
    if (++visited > 2 * TREE_ENTRIES_MAX) {
      throw new FsError('EFBIG', `${root}: more than ${TREE_ENTRIES_MAX} entries`);
    }
    const top = stack.pop()!;
    const isDir = top.entry.attr.type === InodeType.DIR;
    if (!isDir || top.expanded) {
      if (!isDir || postOrder) await visit(top.entry);
      continue;
    }
    if (!postOrder) await visit(top.entry);
    stack.push({ entry: top.entry, expanded: true });
    const children = await client.readdir(top.entry.path);
    for (let i = children.length - 1; i >= 0; i--) {
      const c = children[i]!;
      const entry = { path: childPath(top.entry.path, c.name), attr: c.attr };
      stack.push({ entry, expanded: false });
    }
  }
}
