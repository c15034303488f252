"use strict";(self.rspackChunkconducto_nb_lab=self.rspackChunkconducto_nb_lab||[]).push([[266],{312(o,e,t){var r=t(601),a=t.n(r),n=t(314),i=(t.n(n))()(a());i.push([o.id,`.co-graph {
  font-family: var(--jp-ui-font-family, system-ui, sans-serif);
  font-size: 12px;
  color: var(--jp-ui-font-color1, #1f2328);
  border: 1px solid var(--jp-border-color2, #d0d7de);
  border-radius: 6px;
  overflow: hidden;
}
.co-header {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 8px;
  padding: 6px 8px;
  background: var(--jp-layout-color2, #f6f8fa);
  border-bottom: 1px solid var(--jp-border-color2, #d0d7de);
}
.co-title { font-weight: 600; }
.co-chip { border-radius: 10px; padding: 1px 8px; font-size: 11px; }
.co-legend { display: flex; flex-wrap: wrap; gap: 8px; }
.co-count { white-space: nowrap; }
.co-count i {
  display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 4px; vertical-align: -1px;
}
.co-clock { margin-left: auto; font-variant-numeric: tabular-nums; }
.co-scroll { overflow: auto; max-height: 480px; padding: 6px; }
.co-svg { display: block; }
.co-svg text { font-size: 11px; user-select: none; }
.co-item { cursor: pointer; }
.co-exec rect, .co-box rect:first-of-type, .co-group rect:first-of-type {
  stroke: rgba(0, 0, 0, 0.35); stroke-width: 0.8;
}
.co-box > rect:first-of-type { stroke-width: 2.2; stroke: rgba(0, 0, 0, 0.45); }
.co-group > rect:first-of-type { stroke-dasharray: 4 2; stroke-width: 1.5; stroke: rgba(0, 0, 0, 0.5); }
.co-cluster > rect, .co-range > rect { fill-opacity: 0.06; stroke-width: 1.6; }
.co-range > rect { stroke-dasharray: 5 3; }
.co-cluster-rule { stroke: var(--jp-border-color2, #d0d7de); stroke-width: 0.6; }
.co-cluster-label { fill: var(--jp-ui-font-color1, #1f2328); font-weight: 600; }
.co-toggle { fill: var(--jp-ui-font-color2, #57606a); font-weight: 700; font-size: 14px !important; }
.co-label, .co-sub { text-anchor: middle; pointer-events: none; }
.co-sub { font-size: 10px !important; }
.co-skipped { opacity: 0.5; }
.co-skipped > rect:first-of-type { stroke-dasharray: 3 2; }
.co-selected > rect:first-of-type { stroke: var(--jp-ui-font-color0, #000) !important; stroke-width: 2.6 !important; }
.co-edge { stroke: #6b7280; stroke-width: 1.2; fill: none; }
.co-arrowhead { fill: #6b7280; }
.co-panel {
  border-top: 1px solid var(--jp-border-color2, #d0d7de);
  padding: 8px; max-height: 520px; overflow: auto;
}
.co-panel-head { display: flex; align-items: center; gap: 8px; }
.co-path { font-weight: 600; }
.co-close { margin-left: auto; }
.co-actions { margin: 6px 0; display: flex; flex-wrap: wrap; gap: 4px; }
.co-act, .co-close, .co-modify button {
  font: inherit; padding: 2px 10px; border-radius: 4px; cursor: pointer;
  border: 1px solid var(--jp-border-color1, #bbb); background: var(--jp-layout-color1, #fff);
  color: inherit;
}
.co-act:hover { background: var(--jp-layout-color3, #eee); }
.co-act.co-disabled { opacity: 0.45; cursor: not-allowed; }
.co-act.co-disabled:hover { background: none; }
.co-status { min-height: 1em; font-size: 11px; color: var(--jp-ui-font-color2, #57606a); }
.co-error-text { color: #c62828; }
.co-label-row { font-size: 10px; text-transform: uppercase; color: var(--jp-ui-font-color2, #57606a); margin-top: 6px; }
.co-panel pre {
  margin: 2px 0; padding: 4px 6px; white-space: pre-wrap; word-break: break-word;
  background: var(--jp-layout-color2, #f6f8fa); border-radius: 4px;
  font-family: var(--jp-code-font-family, monospace); font-size: 11px;
}
.co-out { max-height: 300px; overflow: auto; }
.co-stderr pre { color: #b42318; }
.co-md img { max-width: 100%; }
.co-params table, .co-attempts, .co-callbacks { border-collapse: collapse; margin-top: 4px; }
.co-callback-failed td { color: #b42318; }
.co-panel td, .co-panel th { padding: 1px 8px; text-align: left; font-size: 11px; }
.co-inherited td { color: var(--jp-ui-font-color2, #57606a); }
.co-own td:first-child { font-weight: 600; }
.co-value { font-family: var(--jp-code-font-family, monospace); }
.co-modify textarea { width: 100%; font-family: var(--jp-code-font-family, monospace); font-size: 11px; }
.co-loading, .co-note { color: var(--jp-ui-font-color2, #57606a); margin: 6px 0; }
.co-images {
  display: flex; flex-wrap: wrap; align-items: center; gap: 6px; padding: 4px 8px;
  border-bottom: 1px solid var(--jp-border-color2, #d0d7de);
}
.co-images[hidden] { display: none; } /* its flex display would override \`hidden\` */
.co-blocked-note { font-style: italic; }
.co-first-failure { font-size: 11px; }
.co-result { white-space: pre-wrap; max-height: 12em; overflow: auto; }
.co-notebook-frame { width: 100%; height: 420px; border: 1px solid #d0d7de; border-radius: 4px; background: #fff; }
.co-timeline { overflow: auto; max-height: 480px; padding: 6px; }
.co-tl-row { cursor: pointer; }
.co-tl-band { fill: transparent; }
.co-tl-row:hover .co-tl-band { fill: var(--jp-layout-color2, #f3f4f6); }
.co-tl-label, .co-tl-axis { font-size: 11px; fill: var(--jp-ui-font-color1, #1f2328); }
.co-tl-axis { fill: var(--jp-ui-font-color2, #57606a); }
.co-tl-tick { stroke: var(--jp-border-color2, #d0d7de); stroke-dasharray: 2 3; }
.co-tl-wait { fill: var(--jp-border-color1, #c3c8d0); opacity: 0.7; }
.co-tl-run { stroke: rgba(0, 0, 0, 0.2); }
.co-images-title { font-size: 10px; text-transform: uppercase; color: var(--jp-ui-font-color2, #57606a); }
.co-image {
  font: inherit; font-size: 11px; border: 1px solid rgba(0, 0, 0, 0.25); border-radius: 10px;
  padding: 1px 8px; cursor: pointer; white-space: nowrap;
}
.co-image-count { opacity: 0.8; }
.co-selected-image { outline: 2px solid var(--jp-ui-font-color0, #000); outline-offset: 1px; }
.co-image-chip { border-radius: 10px; padding: 0 6px; font-size: 10px; }
[data-state="building"].co-image, [data-state="building"].co-image-chip,
[data-state="building"].co-image-state { animation: co-pulse 1.2s ease-in-out infinite; }
[data-state="unused"].co-image, [data-state="unused"].co-image-chip,
[data-state="unused"].co-image-state { opacity: 0.55; border-style: dashed; }
@keyframes co-pulse { 50% { opacity: 0.55; } }
@media (prefers-reduced-motion: reduce) { [data-state="building"] { animation: none !important; } }
.co-link {
  font: inherit; background: none; border: none; padding: 0; cursor: pointer;
  color: var(--jp-content-link-color, #0969da); text-decoration: underline;
}
.co-image-nodes { display: flex; flex-wrap: wrap; gap: 2px 10px; margin: 2px 0; font-family: var(--jp-code-font-family, monospace); font-size: 11px; }
.co-image-facts td:last-child { font-family: var(--jp-code-font-family, monospace); word-break: break-all; }
.co-image-note { margin: 4px 0; }
.co-waiting { font-weight: 600; }
.co-reuse { font-size: 11px; }
`,""]),t.d(e,{},{A:i})},646(o,e,t){var r=t(601),a=t.n(r),n=t(314),i=t.n(n),c=t(312),l=i()(a());l.i(c.A),l.push([o.id,`/* The graph component's own style (one stylesheet for the widget and the tab), then the
   side panel's and the status item's. */

.co-lab-pipelines {
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
  display: flex;
  flex-direction: column;
  overflow: auto;
}

.co-lab-head {
  padding: 8px;
  font-weight: 600;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
}

.co-lab-message {
  padding: 4px 8px;
  color: var(--jp-ui-font-color2);
}

.co-lab-list {
  list-style: none;
  margin: 0;
  padding: 0;
}

.co-lab-item {
  padding: 6px 8px;
  cursor: pointer;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color3);
}

.co-lab-item:hover {
  background: var(--jp-layout-color2);
}

.co-lab-item-top {
  display: flex;
  justify-content: space-between;
  gap: 8px;
}

.co-lab-name {
  font-weight: 600;
}

.co-lab-counts,
.co-lab-when {
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
}

.co-lab-count {
  margin-right: 6px;
}

.co-lab-state-running,
.co-lab-state-queued {
  color: var(--jp-brand-color1);
}

.co-lab-state-done {
  color: var(--jp-success-color1);
}

.co-lab-state-error,
.co-lab-state-worker_error,
.co-lab-state-killed,
.co-lab-state-interrupted {
  color: var(--jp-error-color1);
}

.co-lab-graph {
  overflow: auto;
  padding: 8px;
  background: var(--jp-layout-color0);
}

.co-lab-status {
  cursor: pointer;
  padding: 0 4px;
}
`,""]),t.d(e,{},{A:l})},314(o){o.exports=function(o){var e=[];return e.toString=function(){return this.map(function(e){var t="",r=void 0!==e[5];return e[4]&&(t+="@supports (".concat(e[4],") {")),e[2]&&(t+="@media ".concat(e[2]," {")),r&&(t+="@layer".concat(e[5].length>0?" ".concat(e[5]):""," {")),t+=o(e),r&&(t+="}"),e[2]&&(t+="}"),e[4]&&(t+="}"),t}).join("")},e.i=function(o,t,r,a,n){"string"==typeof o&&(o=[[null,o,void 0]]);var i={};if(r)for(var c=0;c<this.length;c++){var l=this[c][0];null!=l&&(i[l]=!0)}for(var p=0;p<o.length;p++){var s=[].concat(o[p]);r&&i[s[0]]||(void 0!==n&&(void 0===s[5]||(s[1]="@layer".concat(s[5].length>0?" ".concat(s[5]):""," {").concat(s[1],"}")),s[5]=n),t&&(s[2]&&(s[1]="@media ".concat(s[2]," {").concat(s[1],"}")),s[2]=t),a&&(s[4]?(s[1]="@supports (".concat(s[4],") {").concat(s[1],"}"),s[4]=a):s[4]="".concat(a)),e.push(s))}},e}},601(o){o.exports=function(o){return o[1]}},665(o,e,t){t.r(e);var r=t(72),a=t.n(r),n=t(825),i=t.n(n),c=t(659),l=t.n(c),p=t(56),s=t.n(p),d=t(540),f=t.n(d),u=t(113),g=t.n(u),x=t(646),b={};b.styleTagTransform=g(),b.setAttributes=s(),b.insert=l().bind(null,"head"),b.domAPI=i(),b.insertStyleElement=f(),a()(x.A,b);let m=x.A&&x.A.locals?x.A.locals:void 0;t.d(e,{},{default:m})},72(o){var e=[];function t(o){for(var t=-1,r=0;r<e.length;r++)if(e[r].identifier===o){t=r;break}return t}function r(o,r){for(var a={},n=[],i=0;i<o.length;i++){var c=o[i],l=r.base?c[0]+r.base:c[0],p=a[l]||0,s="".concat(l," ").concat(p);a[l]=p+1;var d=t(s),f={css:c[1],media:c[2],sourceMap:c[3],supports:c[4],layer:c[5]};if(-1!==d)e[d].references++,e[d].updater(f);else{var u=function(o,e){var t=e.domAPI(e);return t.update(o),function(e){e?(e.css!==o.css||e.media!==o.media||e.sourceMap!==o.sourceMap||e.supports!==o.supports||e.layer!==o.layer)&&t.update(o=e):t.remove()}}(f,r);r.byIndex=i,e.splice(i,0,{identifier:s,updater:u,references:1})}n.push(s)}return n}o.exports=function(o,a){var n=r(o=o||[],a=a||{});return function(o){o=o||[];for(var i=0;i<n.length;i++){var c=t(n[i]);e[c].references--}for(var l=r(o,a),p=0;p<n.length;p++){var s=t(n[p]);0===e[s].references&&(e[s].updater(),e.splice(s,1))}n=l}}},659(o){var e={};o.exports=function(o,t){var r=function(o){if(void 0===e[o]){var t=document.querySelector(o);if(window.HTMLIFrameElement&&t instanceof window.HTMLIFrameElement)try{t=t.contentDocument.head}catch(o){t=null}e[o]=t}return e[o]}(o);if(!r)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");r.appendChild(t)}},540(o){o.exports=function(o){var e=document.createElement("style");return o.setAttributes(e,o.attributes),o.insert(e,o.options),e}},56(o,e,t){o.exports=function(o){var e=t.nc;e&&o.setAttribute("nonce",e)}},825(o){o.exports=function(o){if("u"<typeof document)return{update:function(){},remove:function(){}};var e=o.insertStyleElement(o);return{update:function(t){var r,a,n;r="",t.supports&&(r+="@supports (".concat(t.supports,") {")),t.media&&(r+="@media ".concat(t.media," {")),(a=void 0!==t.layer)&&(r+="@layer".concat(t.layer.length>0?" ".concat(t.layer):""," {")),r+=t.css,a&&(r+="}"),t.media&&(r+="}"),t.supports&&(r+="}"),(n=t.sourceMap)&&"u">typeof btoa&&(r+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(n))))," */")),o.styleTagTransform(r,e,o.options)},remove:function(){var o;null===(o=e).parentNode||o.parentNode.removeChild(o)}}}},113(o){o.exports=function(o,e){if(e.styleSheet)e.styleSheet.cssText=o;else{for(;e.firstChild;)e.removeChild(e.firstChild);e.appendChild(document.createTextNode(o))}}}}]);