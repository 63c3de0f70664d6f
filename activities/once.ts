// A promise computed once per key and shared by every caller while it stands; a rejected one is forgotten, so
// the next caller tries again (a secret that was missing may be set by then, a repository may answer again).

/** The part of a Map or WeakMap that oncePer needs. */
interface PromiseCache<K, V> {
  get(key: K): Promise<V> | undefined;
  set(key: K, value: Promise<V>): unknown;
  delete(key: K): unknown;
}

export function oncePer<K, V>(compute: (key: K) => Promise<V>, cache: PromiseCache<K, V>): (key: K) => Promise<V> {
  return (key) => {
    let value = cache.get(key);
    if (!value) {
      value = compute(key);
      value.catch(() => cache.delete(key));
      cache.set(key, value);
    }
    return value;
  };
}
