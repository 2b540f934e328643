// Korean and English. The language comes from the browser (navigator.languages) unless the
// person picked one with the switch (kept in localStorage).
const STRINGS = {
  en: {
    brand: 'Tickets',
    switchTo: '한국어',
    switchLabel: 'Switch language to Korean',
    loading: 'Loading…',
    price: 'Price',
    perUser: 'Up to {n} per person',
    startsIn: 'Sale starts in',
    startsAt: 'Starts {time}',
    onSale: 'On sale now',
    paused: 'The sale is paused for a moment. Stay on this page; you keep your place.',
    signInTitle: 'Sign in to buy',
    signInHelp: 'This page needs your sign-in from the ticket site.',
    nickname: 'Nickname',
    demoSignIn: 'Sign in (demo)',
    signedInAs: 'Signed in as {name}',
    join: 'Join the line',
    joinEarly: 'Join the line now — the order is drawn at the start',
    buy: 'Buy a ticket',
    solving: 'Checking your browser… (a few seconds)',
    joining: 'Joining the line…',
    yourPosition: 'Your place in line',
    ahead: 'People ahead of you',
    eta: 'Estimated wait',
    lineLength: 'In line',
    preQueue: 'You are in the line. The order is drawn at random when the sale starts; everyone who joined before the start has the same chance.',
    keepOpen: 'Keep this page open. You lose your place if you close it for more than about 30 seconds.',
    announcePosition: 'You are number {pos} in line.',
    announceAdmitted: 'It is your turn. Reserving your ticket.',
    admitted: 'Your turn! Reserving your ticket…',
    reserving: 'Reserving your ticket…',
    heldTitle: 'Your ticket is reserved',
    heldHelp: 'Complete the purchase before the timer runs out, or the ticket goes to the next person.',
    holdLeft: 'Time left',
    confirm: 'Pay and confirm',
    cancel: 'Release the ticket',
    confirming: 'Confirming your purchase…',
    doneTitle: 'You have a ticket!',
    doneOrder: 'Order {id} · {qty} ticket(s) · {total}',
    doneConfirmed: 'Your purchase is confirmed.',
    cancelledTitle: 'You released the ticket',
    cancelledHelp: 'It went back to the people in line.',
    expiredTitle: 'The reservation ran out',
    expiredHelp: 'The ticket went back to the line.',
    turnPassed: 'Your turn passed while the page was away.',
    joinAgain: 'Join the line again',
    turnUsed: 'Your place in this line was used for a reservation. Each place in line gives one reservation.',
    soldOutTitle: 'Sold out',
    soldOutHeld: 'Sold out for now: every remaining ticket is in someone’s basket. Tickets that are released go to the people in line, in order.',
    soldOutFinal: 'All tickets are sold. Tickets can still come back (returns or added tickets).',
    keepWaiting: 'Keep waiting for a returned ticket',
    keepingWaiting: 'We are watching for returned tickets. Keep this page open.',
    stopWaiting: 'Stop waiting',
    leftLine: 'You left the line.',
    limitReached: 'You already have as many tickets as one person may buy.',
    busy: 'Lots of people are buying right now. Trying again in {s} s…',
    offline: 'The connection is interrupted. Trying again in {s} s…',
    failed: 'Something went wrong: {msg}',
    noProduct: 'This sale does not exist.',
    notOpen: 'The sale has not started yet.',
    retry: 'Try again',
    secondsShort: '{s} s',
    minutesShort: '{m} min {s} s',
    hoursShort: '{h} h {m} min',
    lessThanSecond: 'any moment now',
    ticketsLeft: '{n} left',
    // Dashboard
    dashTitle: 'Sale dashboard',
    adminToken: 'Admin token',
    connect: 'Connect',
    live: 'Live',
    reconnecting: 'Reconnecting…',
    serverTitle: 'Server',
    reqPerSec: 'req/s',
    e5xxPerSec: '5xx/s',
    e5xxTotal: '5xx total',
    sampled: 'sampled',
    samplingFailed: 'Sampling failed: {msg}',
    productsTitle: 'Products',
    productsCaption: 'Products with live counters',
    colName: 'Name',
    colState: 'State',
    colAvailable: 'Available',
    colHeld: 'Held',
    colSold: 'Sold',
    colTotal: 'Total',
    colInLine: 'In line',
    colAdmitted: 'Admitted',
    colActive: 'Active',
    colActions: 'Actions',
    colReservation: 'Reservation',
    colBuyer: 'Buyer',
    colQty: 'Qty',
    colExpires: 'Expires',
    colAction: 'Action',
    stateSelling: 'selling',
    stateSoldOut: 'sold out',
    statePaused: 'paused',
    state_held: 'held',
    state_confirming: 'confirming',
    state_paid: 'paid',
    state_refunded: 'refunded',
    add: 'Add',
    remove: 'Remove',
    pause: 'Pause',
    resume: 'Resume',
    sync: 'Sync',
    details: 'Details',
    salePage: 'Sale page',
    refund: 'Refund',
    unitsLabel: 'Units to add or remove for product {id}',
    detailsLabel: 'Show chart and lists of product {id}',
    chartTitle: 'Sale over time',
    legendSold: 'sold',
    legendHeld: 'held',
    legendAvailable: 'available',
    legendQueue: 'queue length (right axis)',
    chartLabel: "Chart of the selected product's units sold, held and available, and its queue length",
    chartWaiting: 'Waiting for samples…',
    chartSummary: 'Now: {sold} sold, {held} held, {available} available, {queue} in line ({n} samples).',
    createTitle: 'New product',
    fName: 'Name',
    fUnits: 'Units',
    fPerBuyer: 'Per buyer',
    fHold: 'Hold (s)',
    fStart: 'Sale starts (local time)',
    fRate: 'Admit per second',
    fMaxActive: 'Max active',
    fPow: 'Proof of work (bits)',
    fQueue: 'Waiting room',
    create: 'Create',
    listsTitle: 'Reservations and orders of {name}',
    liveHolds: 'Live holds',
    orders: 'Orders',
    firstPage: 'First page',
    nextPage: 'Next page',
    dBusy: 'Server busy, retrying in {s} s',
    dOffline: 'Offline, retrying in {s} s',
    notAdmin: 'That token is not an admin token (or it expired).',
    stockSynced: 'Stock synced',
    pausedDone: 'Paused',
    resumedDone: 'Resumed',
    wholeUnits: 'Enter a whole number of units (1 or more).',
    stockChanged: 'Product {id}: total {total}, available {available}',
    onlyFree: 'Only {n} can be removed now: the rest are held or sold',
    created: 'Created product {id}',
    refundConfirm: 'Refund order {id} of {user}?',
    refunded: 'Order {id} refunded',
  },
  ko: {
    brand: '티켓',
    switchTo: 'English',
    switchLabel: '영어로 보기',
    loading: '불러오는 중…',
    price: '가격',
    perUser: '1인당 최대 {n}매',
    startsIn: '판매 시작까지',
    startsAt: '{time} 시작',
    onSale: '판매 중',
    paused: '판매가 잠시 중지되었습니다. 이 페이지에 그대로 계시면 순서는 유지됩니다.',
    signInTitle: '로그인 후 구매할 수 있습니다',
    signInHelp: '티켓 사이트에서 로그인한 뒤 이 페이지를 열어 주세요.',
    nickname: '닉네임',
    demoSignIn: '로그인 (데모)',
    signedInAs: '{name} 님',
    join: '대기열 들어가기',
    joinEarly: '지금 대기열 들어가기 — 순서는 시작 시각에 추첨됩니다',
    buy: '티켓 구매',
    solving: '브라우저를 확인하는 중… (몇 초 걸립니다)',
    joining: '대기열에 들어가는 중…',
    yourPosition: '나의 대기 순서',
    ahead: '내 앞 대기 인원',
    eta: '예상 대기 시간',
    lineLength: '전체 대기',
    preQueue: '대기열에 들어왔습니다. 판매 시작 시각에 무작위로 순서가 정해지며, 시작 전에 들어온 분은 모두 같은 기회를 가집니다.',
    keepOpen: '이 페이지를 닫지 마세요. 약 30초 이상 닫혀 있으면 순서가 사라집니다.',
    announcePosition: '현재 대기 순서는 {pos}번입니다.',
    announceAdmitted: '차례가 되었습니다. 티켓을 예약하고 있습니다.',
    admitted: '차례가 되었습니다! 티켓을 예약하는 중…',
    reserving: '티켓을 예약하는 중…',
    heldTitle: '티켓이 예약되었습니다',
    heldHelp: '시간 안에 결제를 마치지 않으면 티켓은 다음 분께 넘어갑니다.',
    holdLeft: '남은 시간',
    confirm: '결제하고 확정하기',
    cancel: '예약 취소',
    confirming: '구매를 확정하는 중…',
    doneTitle: '티켓 구매 완료!',
    doneOrder: '주문 {id} · {qty}매 · {total}',
    doneConfirmed: '구매가 확정되었습니다.',
    cancelledTitle: '예약을 취소했습니다',
    cancelledHelp: '티켓은 대기 중인 분께 돌아갔습니다.',
    expiredTitle: '예약 시간이 지났습니다',
    expiredHelp: '티켓은 대기열로 돌아갔습니다.',
    turnPassed: '페이지가 닫혀 있는 동안 차례가 지나갔습니다.',
    joinAgain: '대기열 다시 들어가기',
    turnUsed: '이 대기열의 순서는 이미 예약에 사용되었습니다. 대기 순서 하나로 한 번 예약할 수 있습니다.',
    soldOutTitle: '매진',
    soldOutHeld: '현재 매진: 남은 티켓은 모두 다른 분이 결제 중입니다. 취소되는 티켓은 대기 순서대로 돌아갑니다.',
    soldOutFinal: '모든 티켓이 판매되었습니다. 환불되거나 추가되는 티켓이 있을 수 있습니다.',
    keepWaiting: '취소 티켓 기다리기',
    keepingWaiting: '취소되는 티켓을 기다리고 있습니다. 이 페이지를 열어 두세요.',
    stopWaiting: '그만 기다리기',
    leftLine: '대기열에서 나왔습니다.',
    limitReached: '1인당 구매 가능한 수량을 이미 구매하셨습니다.',
    busy: '지금 구매하려는 분이 많습니다. {s}초 후 다시 시도합니다…',
    offline: '연결이 끊겼습니다. {s}초 후 다시 시도합니다…',
    failed: '문제가 생겼습니다: {msg}',
    noProduct: '존재하지 않는 판매입니다.',
    notOpen: '아직 판매가 시작되지 않았습니다.',
    retry: '다시 시도',
    secondsShort: '{s}초',
    minutesShort: '{m}분 {s}초',
    hoursShort: '{h}시간 {m}분',
    lessThanSecond: '곧 차례입니다',
    ticketsLeft: '{n}매 남음',
    dashTitle: '판매 대시보드',
    adminToken: '관리자 토큰',
    connect: '연결',
    live: '실시간',
    reconnecting: '다시 연결하는 중…',
    serverTitle: '서버',
    reqPerSec: '요청/초',
    e5xxPerSec: '5xx/초',
    e5xxTotal: '5xx 누적',
    sampled: '측정 시각',
    samplingFailed: '측정 실패: {msg}',
    productsTitle: '상품',
    productsCaption: '실시간 수치가 있는 상품 목록',
    colName: '이름',
    colState: '상태',
    colAvailable: '판매 가능',
    colHeld: '예약 중',
    colSold: '판매됨',
    colTotal: '전체',
    colInLine: '대기',
    colAdmitted: '입장',
    colActive: '활성 입장',
    colActions: '작업',
    colReservation: '예약 번호',
    colBuyer: '구매자',
    colQty: '수량',
    colExpires: '만료',
    colAction: '작업',
    stateSelling: '판매 중',
    stateSoldOut: '매진',
    statePaused: '일시 중지',
    state_held: '예약 중',
    state_confirming: '확정 중',
    state_paid: '결제 완료',
    state_refunded: '환불됨',
    add: '추가',
    remove: '빼기',
    pause: '일시 중지',
    resume: '재개',
    sync: '동기화',
    details: '상세',
    salePage: '판매 페이지',
    refund: '환불',
    unitsLabel: '상품 {id}에 추가하거나 뺄 수량',
    detailsLabel: '상품 {id}의 그래프와 목록 보기',
    chartTitle: '시간별 판매',
    legendSold: '판매됨',
    legendHeld: '예약 중',
    legendAvailable: '판매 가능',
    legendQueue: '대기 인원 (오른쪽 축)',
    chartLabel: '선택한 상품의 판매, 예약, 판매 가능 수량과 대기 인원 그래프',
    chartWaiting: '측정값을 기다리는 중…',
    chartSummary: '현재: 판매 {sold}, 예약 {held}, 판매 가능 {available}, 대기 {queue} (표본 {n}개).',
    createTitle: '새 상품',
    fName: '이름',
    fUnits: '수량',
    fPerBuyer: '1인당 한도',
    fHold: '예약 유지 (초)',
    fStart: '판매 시작 (현지 시각)',
    fRate: '초당 입장',
    fMaxActive: '최대 활성 입장',
    fPow: '작업 증명 (비트)',
    fQueue: '대기열',
    create: '만들기',
    listsTitle: '{name}의 예약과 주문',
    liveHolds: '진행 중인 예약',
    orders: '주문',
    firstPage: '첫 페이지',
    nextPage: '다음 페이지',
    dBusy: '서버가 바쁩니다. {s}초 후 다시 시도합니다',
    dOffline: '연결이 끊겼습니다. {s}초 후 다시 시도합니다',
    notAdmin: '관리자 토큰이 아니거나 만료된 토큰입니다.',
    stockSynced: '재고를 동기화했습니다',
    pausedDone: '판매를 일시 중지했습니다',
    resumedDone: '판매를 재개했습니다',
    wholeUnits: '1 이상의 정수로 수량을 입력하세요.',
    stockChanged: '상품 {id}: 전체 {total}매, 판매 가능 {available}매',
    onlyFree: '지금 뺄 수 있는 수량은 {n}매입니다. 나머지는 예약 중이거나 판매되었습니다',
    created: '상품 {id}을(를) 만들었습니다',
    refundConfirm: '{user}님의 주문 {id}을(를) 환불할까요?',
    refunded: '주문 {id}을(를) 환불했습니다',
  },
};

const KEY = 'ticketing:lang';

function detect() {
  const saved = localStorage.getItem(KEY);
  if (saved && STRINGS[saved]) return saved;
  const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
  for (const l of langs) {
    const base = String(l).toLowerCase().split('-')[0];
    if (STRINGS[base]) return base;
  }
  return 'en';
}

let lang = detect();
const listeners = [];

export function language() { return lang; }

export function t(key, vars = {}) {
  const s = (STRINGS[lang] && STRINGS[lang][key]) ?? STRINGS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ''));
}

export function setLanguage(next) {
  if (!STRINGS[next]) return;
  lang = next;
  localStorage.setItem(KEY, next);
  document.documentElement.lang = next;
  for (const f of listeners) f();
}

export function onLanguage(f) { listeners.push(f); }

// Fills every [data-i18n] element's text (and [data-i18n-label] aria-labels).
export function translate(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
}

// "3 min 20 s" / "3분 20초".
export function duration(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 1) return t('lessThanSecond');
  if (seconds < 60) return t('secondsShort', { s: seconds });
  if (seconds < 3600) return t('minutesShort', { m: Math.floor(seconds / 60), s: seconds % 60 });
  return t('hoursShort', { h: Math.floor(seconds / 3600), m: Math.floor((seconds % 3600) / 60) });
}

export function number(n) { return new Intl.NumberFormat(lang === 'ko' ? 'ko-KR' : 'en-US').format(n); }

export function money(amount, currency) {
  const locale = lang === 'ko' ? 'ko-KR' : 'en-US';
  if (currency) {
    try { return new Intl.NumberFormat(locale, { style: 'currency', currency }).format(amount); } catch { /* unknown code */ }
  }
  return new Intl.NumberFormat(locale, { maximumFractionDigits: 2 }).format(amount);
}

// "5:29:19 PM" / "오후 5:29:19".
export function time(ms) {
  return new Intl.DateTimeFormat(lang === 'ko' ? 'ko-KR' : 'en-US', { timeStyle: 'medium' }).format(new Date(ms));
}

export function dateTime(ms) {
  return new Intl.DateTimeFormat(lang === 'ko' ? 'ko-KR' : 'en-US', { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
}
