// crc-32's CRC-32C build (crc32c.js) has no typings of its own; it has the same functions as the package's main.
declare module 'crc-32/crc32c.js' {
  const crc32c: typeof import('crc-32');
  export default crc32c;
}
