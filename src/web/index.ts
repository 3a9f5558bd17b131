// The web pages' public face: the sessions and OAuth work imports from here.
export { createPages, PAGE_NAMES, styleHashOf } from './pages.js';
export type {
  ConsentPage,
  ConsentScope,
  ErrorPage,
  PageData,
  PageDataMap,
  PageName,
  Pages,
  PagesOptions,
  SignedInPage,
  SignedOutPage,
  SignInPage,
  SignOutPage,
} from './pages.js';
export { pageCsp, sendPage } from './respond.js';
export type { SendPageOptions } from './respond.js';
