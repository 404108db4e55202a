// Reads the commands a reader would copy from README.md: every line of its ```sh blocks.
// The README test runs each of them (or names the test that does), so this is the one place
// that decides what "a command in the README" is.

/** A fenced code block: its info string (`sh`, `yaml`, …), its text and where it starts. */
export interface CodeBlock {
  lang: string;
  code: string;
  /** 1-based line of the first line of code (the line after the opening fence). */
  line: number;
  /** The nearest heading above the block, for messages. */
  heading: string;
}

/** One command of a ```sh block, `&&` chains split into their commands. */
export interface ReadmeCommand {
  /** The command as written (continuations joined, comment removed, trimmed). */
  text: string;
  /** 1-based README line the command starts on. */
  line: number;
  heading: string;
  /**
   * The argument vector, quotes removed, when the command is plain words; undefined when it
   * needs a shell (redirection, pipe, `$(…)`, globs, …): such a line can only be allow-listed.
   */
  argv: string[] | undefined;
}

const FENCE = /^(`{3,}|~{3,})\s*([\w+-]*)/;

export function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] ?? '';
    const open = FENCE.exec(text);
    if (!open) {
      const title = /^#{1,6}\s+(.*)$/.exec(text);
      if (title) heading = title[1] ?? '';
      continue;
    }
    const fence = open[1] ?? '```';
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !(lines[j] ?? '').startsWith(fence)) body.push(lines[j++] ?? '');
    if (j >= lines.length) throw new Error(`README line ${i + 1}: code block is never closed`);
    blocks.push({ lang: open[2] ?? '', code: body.join('\n'), line: i + 2, heading });
    i = j;
  }
  return blocks;
}

/** Every command of every ```sh block, in README order. */
export function readmeCommands(markdown: string): ReadmeCommand[] {
  const commands: ReadmeCommand[] = [];
  for (const block of codeBlocks(markdown)) {
    if (block.lang !== 'sh' && block.lang !== 'bash' && block.lang !== 'shell') continue;
    for (const { text, line } of logicalLines(block.code, block.line)) {
      for (const part of splitChain(text)) {
        commands.push({ text: part, line, heading: block.heading, argv: shellWords(part) });
      }
    }
  }
  return commands;
}

/** Lines with `\` continuations joined and comments dropped; blank lines skipped. */
export function logicalLines(code: string, firstLine = 1): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  const lines = code.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let text = lines[i] ?? '';
    while (text.endsWith('\\') && i + 1 < lines.length)
      text = `${text.slice(0, -1).trimEnd()} ${(lines[++i] ?? '').trimStart()}`;
    const command = stripComment(text).trim();
    if (command !== '') out.push({ text: command, line: firstLine + start });
  }
  return out;
}

/** Drops a `#` comment: one that starts a word outside quotes, as a shell reads it. */
export function stripComment(text: string): string {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '\\') i++;
    else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1] ?? ''))) return text.slice(0, i);
  }
  return text;
}

/** `a && b` → [`a`, `b`] (only outside quotes). */
export function splitChain(text: string): string[] {
  const parts: string[] = [];
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '\\') i++;
    else if (c === "'" || c === '"') quote = c;
    else if (c === '&' && text[i + 1] === '&') {
      parts.push(text.slice(start, i).trim());
      start = i + 2;
      i++;
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter((part) => part !== '');
}

// Outside quotes these make a line shell syntax rather than plain words.
const SHELL_SYNTAX = new Set([
  '|',
  '&',
  ';',
  '<',
  '>',
  '(',
  ')',
  '$',
  '`',
  '*',
  '?',
  '[',
  '{',
  '~',
]);
// Inside double quotes, these still expand.
const EXPANDS_IN_DOUBLE_QUOTES = new Set(['$', '`']);

/**
 * POSIX-shell word splitting for plain command lines: single and double quotes and backslash
 * escapes. Returns undefined when the line needs a shell to mean what it says.
 */
export function shellWords(text: string): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        const d = text[j] ?? '';
        if (EXPANDS_IN_DOUBLE_QUOTES.has(d)) return undefined;
        if (d === '\\' && /["\\$`]/.test(text[j + 1] ?? '')) word += text[++j];
        else word += d;
      }
      if (j >= text.length) return undefined;
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= text.length) return undefined;
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (SHELL_SYNTAX.has(c)) {
      return undefined;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  // `VAR=value cmd` is an assignment, which only a shell understands.
  if (words.length === 0 || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0] ?? '')) return undefined;
  return words;
}
