// @buttervolume/text: values written as text, read and shown the same way everywhere. Pure:
// no dependencies, no Node built-ins.

export { showValue } from './show.js';
export { type ByteSizeOptions, parseByteSize } from './size.js';
