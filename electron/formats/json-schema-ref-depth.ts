/**
 * How deep a schema nests when its `$ref`s are followed, which
 * json-schema-support.ts bounds by SCHEMA_LIMITS.refDepth.
 */

/**
 * The deepest node-llama-cpp can recurse from each definition, following
 * references: strongly connected definitions (recursion) are one group that
 * may each be entered once, so a group weighs the sum of its members' depths,
 * and the longest path through the groups bounds the stack.
 */
export function longestFrom(trees: Map<string, { height: number; refs: Set<string> }>): (name: string) => number {
  // Tarjan's strongly connected components (at most SCHEMA_LIMITS.definitions nodes, so recursion is shallow).
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const component = new Map<string, number>();
  const stack: string[] = [];
  const members: string[][] = [];
  let counter = 0;
  const connect = (name: string) => {
    index.set(name, counter);
    low.set(name, counter);
    counter += 1;
    stack.push(name);
    for (const next of trees.get(name)?.refs ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(name, Math.min(low.get(name)!, low.get(next)!));
      } else if (!component.has(next)) {
        low.set(name, Math.min(low.get(name)!, index.get(next)!));
      }
    }
    if (low.get(name) === index.get(name)) {
      const group: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        component.set(member, members.length);
        group.push(member);
      } while (member !== name);
      members.push(group);
    }
  };
  for (const name of trees.keys()) if (!index.has(name)) connect(name);

  const memo = new Map<number, number>();
  // Tarjan emits components in reverse topological order, so successors are always known first.
  for (const [id, group] of members.entries()) {
    const weight = group.reduce((sum, name) => sum + trees.get(name)!.height + 1, 0);
    let next = 0;
    for (const name of group)
      for (const ref of trees.get(name)!.refs) {
        const target = component.get(ref)!;
        if (target !== id) next = Math.max(next, memo.get(target)!);
      }
    memo.set(id, weight + next);
  }
  return (name) => memo.get(component.get(name)!) ?? 0;
}
