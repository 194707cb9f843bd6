/**
 * Which decoded codes are new attempts. A code held in view counts once, however long it is held; the same
 * code counts again only after it has been out of view for `holdOffMs`; a different code counts at once.
 * "In view" means decoded in a frame: a few frames in which a held code failed to decode (motion, glare)
 * are shorter than the hold-off and do not make it count twice. Times are the frames' monotonic times.
 */
export class CodeSightings {
  /** text -> monotonic time it was last seen. Entries older than the hold-off are forgotten. */
  private readonly lastSeen = new Map<string, number>();

  constructor(private readonly holdOffMs: number) {}

  /** The codes of one frame seen at `at`; returns those that are new attempts, in the order given. */
  observe(texts: readonly string[], at: number): string[] {
    for (const [text, seen] of this.lastSeen) if (at - seen >= this.holdOffMs) this.lastSeen.delete(text);
    const fresh: string[] = [];
    for (const text of texts) {
      const seen = this.lastSeen.get(text);
      if (seen === undefined && !fresh.includes(text)) fresh.push(text);
      if (seen === undefined || at > seen) this.lastSeen.set(text, at);
    }
    return fresh;
  }

  /** How many codes are currently remembered (in view, or out of view for less than the hold-off). */
  get size(): number {
    return this.lastSeen.size;
  }

  clear(): void {
    this.lastSeen.clear();
  }
}
