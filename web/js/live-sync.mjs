// Live sync between the tabs of one origin: one BroadcastChannel per
// workspace ("schemalog:<workspace>"). A tab that appended announces its new
// head; every other tab pulls from the shared log (IndexedDB) and merges. The
// message is only a hint: the log is the truth, so a lost or late message
// costs nothing but latency, and a tab that opens late simply pulls.

/**
 * @param {string} workspace
 * @param {(news: {origin: string, position: number, checksum: string | null}) => void} onNews
 * @returns {{announce: (news: {origin: string, position: number, checksum: string | null}) => void, close: () => void}}
 */
export function openLiveSync(workspace, onNews) {
  const channel = new BroadcastChannel(`schemalog:${workspace}`);
  channel.onmessage = (event) => {
    const news = event.data;
    if (news && typeof news.position === "number") onNews(news);
  };
  return {
    announce: (news) => channel.postMessage({ origin: String(news.origin), position: news.position, checksum: news.checksum ?? null }),
    close: () => channel.close(),
  };
}
