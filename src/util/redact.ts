/** Removes credentials from text that may carry a connection string or a secret value. */
export function redact(text: string, secrets: Array<string | undefined> = []): string {
  let out = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1***@');
  out = out.replace(/\b(password|passwd|pwd)=([^\s&;]+)/gi, '$1=***');
  for (const secret of secrets) {
    if (secret && secret.length >= 3) out = out.split(secret).join('***');
  }
  return out;
}

/** The last lines of a command's output, short enough for evidence and failure messages. */
export function trimOutput(text: string, maxLines = 20, maxChars = 2000): string {
  const lines = text.trimEnd().split('\n');
  const kept = lines.slice(-maxLines).join('\n');
  const clipped = kept.length > maxChars ? `…${kept.slice(-maxChars)}` : kept;
  return lines.length > maxLines ? `… (${lines.length - maxLines} lines before)\n${clipped}` : clipped;
}
