// A link the router handles without a page load.
import type { ComponentChildren } from "preact";
import { onLinkClick } from "../router.js";

export function Link(props: { href: string; children: ComponentChildren; class?: string; "aria-current"?: "page" | undefined; "aria-label"?: string }) {
  return (
    <a href={props.href} class={props.class} aria-current={props["aria-current"]} aria-label={props["aria-label"]} onClick={onLinkClick}>
      {props.children}
    </a>
  );
}
