/** The link to the cloud's MQTT broker, as the app sees it. */
export interface CloudLink {
  readonly connected: boolean;
  /** Resolves when the broker has acknowledged (PUBACK for QoS 1); rejects when it cannot be sent. */
  publish(
    topic: string,
    payload: string,
    options: { readonly qos: 0 | 1; readonly retain?: boolean },
  ): Promise<void>;
  /** Called after every (re)connection, once subscriptions are in place. */
  onConnect(listener: () => void): void;
  /** Called with messages whose signature checked out (cloud -> device topics). */
  onMessage(listener: (topic: string, payload: string) => void): void;
}
