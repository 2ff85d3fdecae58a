/** Outcome of one delivery attempt; stored on the outbox row rather than thrown. */
export interface DeliveryResult {
  ok: boolean;
  /** SMTP reply or HTTP status. */
  status?: string;
  error?: string;
}
