// Small display helpers: names, times, channel labels.

/** "3m", "2h", "5d": how long ago `ms` was, for list rows. */
export function ago(ms, now = Date.now()) {
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 60) return "now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.round(hours / 24)}d`;
}

/** A clock time for thread entries: today's as "14:05", older ones with the date. */
export function when(ms) {
  const date = new Date(ms);
  const today = new Date();
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return date.toDateString() === today.toDateString() ? time : `${date.toLocaleDateString()} ${time}`;
}

export function contactName(contact) {
  return contact?.display_name || contact?.phone || contact?.email || `Contact ${contact?.id ?? ""}`;
}

/** What each channel plugin is called, and its colour and mark in the UI. */
const CHANNELS = {
  whatsapp: { label: "WhatsApp", mark: "W", tone: "whatsapp" },
  messenger: { label: "Messenger", mark: "M", tone: "messenger" },
  instagram: { label: "Instagram", mark: "I", tone: "instagram" },
  "twilio-sms": { label: "SMS", mark: "S", tone: "sms" },
  sms: { label: "SMS", mark: "S", tone: "sms" },
  telegram: { label: "Telegram", mark: "T", tone: "telegram" },
  email: { label: "Email", mark: "E", tone: "email" },
  webchat: { label: "Web chat", mark: "C", tone: "webchat" },
};

/** Label, mark and tone of channel `id`, given `plugins` (channel id → plugin name). */
export function channelLook(id, plugins) {
  const plugin = plugins[id] ?? id;
  const known = CHANNELS[plugin] ?? CHANNELS[id];
  return known ? { ...known, id } : { label: id, mark: (id[0] || "?").toUpperCase(), tone: "other", id };
}

export const PRIORITIES = ["urgent", "high", "normal", "low"];
export const STATUSES = ["open", "pending", "snoozed", "resolved"];
