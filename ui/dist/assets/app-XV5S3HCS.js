import{a as ie,b as p,c as T,d as ne,e as t,f as te,g as V,h as z,i as N,j as H,k as oe,l as B,m as j,n as Y,o as re,p as be,q as ye,r as ve,s as J,t as G,u as I,v as we,w as U,x as M,y as P}from"./chunk-WUJX3SZW.js";var q={instancesQuery:!1,extensions:[],server:null};function ke(e){q.server=e,q.extensions=e.api_extensions||[],q.instancesQuery=q.extensions.includes("lodge_instances_query")}var ce=new Set,Z=null,de=0,Se=!1;function A(e){return ce.add(e),ue(),()=>ce.delete(e)}function Ce(e){for(let s of[...ce])try{s(e)}catch(n){console.error(n)}}function ue(){if(Z)return;let e=location.protocol==="https:"?"wss:":"ws:";Z=new WebSocket(`${e}//${location.host}/1.0/events?type=operation,lifecycle`),Z.onopen=()=>{de=0,Se&&Ce({type:"resync"}),Se=!0,document.body.dataset.events="open"},Z.onmessage=s=>{try{Ce(JSON.parse(s.data))}catch{}},Z.onclose=()=>{Z=null,document.body.dataset.events="closed";let s=Math.min(3e4,250*2**de++);setTimeout(ue,s)}}document.addEventListener("visibilitychange",()=>{!document.hidden&&!Z&&(de=0,ue())});function pe(e){let s=[],n=[];for(let c of e.trim().split(/\s+/).filter(Boolean)){let a=/^([a-z_][\w.-]*)[:=](.+)$/i.exec(c);a?n.push([a[1].toLowerCase()==="status"?"status":a[1],a[2]]):s.push(c.toLowerCase())}return{words:s,exact:n}}var Xe=(e,s)=>s.startsWith("config.")?(e.expanded_config||e.config||{})[s.slice(7)]??"":s==="profile"||s==="profiles"?(e.profiles||[]).join(","):e[s]??"";function Ee(e,{words:s,exact:n}){for(let c of s)if(!e.name.toLowerCase().includes(c)&&!(e.description||"").toLowerCase().includes(c))return!1;for(let[c,a]of n){let o=String(Xe(e,c));if(c==="profile"||c==="profiles"?!o.split(",").includes(a):o.toLowerCase()!==a.toLowerCase())return!1}return!0}function xe(e,s){return(n,c)=>{let a=String(n[e]??""),o=String(c[e]??""),u=a<o?-1:a>o?1:n.name<c.name?-1:n.name>c.name?1:0;return s?-u:u}}function Le({q:e,sort:s,desc:n,size:c,page:a}){let{words:o,exact:u}=pe(e),r=new URLSearchParams({recursion:"2"}),g=u.map(([m,f])=>`${m==="profile"?"profiles":m} eq ${m==="status"?f[0].toUpperCase()+f.slice(1).toLowerCase():f}`);return g.length&&r.set("filter",g.join(" and ")),o.length&&r.set("search",o.join(" ")),r.set("sort",(n?"-":"")+s),r.set("limit",String(c)),r.set("offset",String(a*c)),r.toString()}var Ge={name:"Name",status:"Status",type:"Type",created_at:"Created",last_used_at:"Last used"},qe=[50,100,250],Qe=["Running","Stopped","Frozen","Error"];function Te(){let{query:e}=V(),[s,n]=p(e.get("q")||""),[c,a]=p(e.get("sort")||"name"),[o,u]=p(e.get("desc")==="1"),[r,g]=p(+e.get("size")||50),[m,f]=p(+e.get("page")||0),[,$]=p(0),[w,_]=p(0),[R,S]=p(null),[D,y]=p(new Set),[h,x]=p(null),[O,d]=p([]),l=ne({all:null,page:null,total:0,states:new Map,busy:new Map,loaded:!1}).current,v=q.instancesQuery,b=()=>$(i=>i+1);T(()=>{let i=new URLSearchParams;s&&i.set("q",s),c!=="name"&&i.set("sort",c),o&&i.set("desc","1"),r!==50&&i.set("size",r),m&&i.set("page",m);let k=i.toString();history.replaceState(null,"",location.pathname+(k?"?"+k:""))},[s,c,o,r,m]),T(()=>{let i=!0;return v?G("GET","/1.0/instances?"+Le({q:s,sort:c,desc:o,size:r,page:m})).then(k=>{if(i){l.page=k.metadata,l.total=+(k.headers.get("X-Lodge-Total-Count")||k.metadata.length);for(let C of k.metadata)C.state&&l.states.set(C.name,C.state);l.loaded=!0,b()}},k=>i&&S(k)):l.all||I("/1.0/instances?recursion=1").then(k=>{i&&(l.all=new Map(k.map(C=>[C.name,C])),l.loaded=!0,b())},k=>i&&S(k)),()=>{i=!1}},v?[s,c,o,r,m,w]:[w]);let E=[],X=0;if(v&&l.page)E=l.page,X=l.total;else if(l.all){let i=pe(s),k=[...l.all.values()].filter(C=>Ee(C,i)).sort(xe(c,o));X=k.length,E=k.slice(m*r,m*r+r)}let ae=Math.max(1,Math.ceil(X/r));T(()=>{if(v||!l.loaded)return;let i=E.filter(L=>L.status==="Running"&&!l.states.has(L.name)&&!l.busy.has(L.name)).map(L=>L.name),k=0,C=()=>{let L=i[k++];L&&(l.busy.set(L,"state"),I(P(L)+"/state").then(F=>{l.states.set(L,F),b()},()=>{}).finally(()=>{l.busy.delete(L),C()}))};for(let L=0;L<4;L++)C()}),T(()=>{l.loaded&&!document.body.dataset.tableReady&&(performance.mark("table-ready"),document.body.dataset.tableReady="1")}),T(()=>A(i=>{if(i.type==="resync"){l.all=null,l.page=null,l.states.clear(),_(K=>K+1);return}if(i.type!=="lifecycle")return;let k=i.metadata?.source||"",C=i.metadata?.action||"",L=/^\/1\.0\/instances\/([^/?]+)/.exec(k);if(!L||C==="instance-exec"||C.startsWith("instance-console")||C.startsWith("instance-log"))return;let F=decodeURIComponent(L[1]),W=i.metadata?.context?.old_name;if(W&&me(W),C==="instance-deleted"){me(F),b();return}fe(F,C==="instance-created")}),[]);function me(i){if(l.states.delete(i),l.all&&l.all.delete(i),l.page){let k=l.page.length;l.page=l.page.filter(C=>C.name!==i),l.total-=k-l.page.length}y(k=>{if(!k.has(i))return k;let C=new Set(k);return C.delete(i),C})}function fe(i,k){if(!(!(l.all&&l.all.has(i)||l.page&&l.page.some(L=>L.name===i))&&!k)){if(l.busy.get(i)==="row"){l.busy.set(i,"again");return}l.busy.set(i,"row"),I(P(i)+"?recursion=1").then(L=>{let{state:F,snapshots:W,backups:K,...ee}=L;if(ee.snapshot_count=(W||[]).length,F&&l.states.set(i,F),l.all&&l.all.set(i,ee),l.page){let ge=l.page.findIndex(Ye=>Ye.name===i);ge>=0?l.page[ge]=ee:(l.page=[...l.page,ee],l.total++)}b()},()=>{}).finally(()=>{let L=l.busy.get(i)==="again";l.busy.delete(i),L&&fe(i,!1)})}}let Ae=i=>y(k=>{let C=new Set(k);return C.has(i)?C.delete(i):C.add(i),C}),$e=E.length>0&&E.every(i=>D.has(i.name)),Fe=()=>y($e?new Set:new Set(E.map(i=>i.name))),he=i=>{i===c?u(!o):(a(i),u(!1)),f(0)};async function Be(i,k){x(null);let C=[],L=async W=>{try{if(i==="delete"){let K=l.all&&l.all.get(W)||l.page?.find(ee=>ee.name===W);K&&K.status!=="Stopped"&&await U("PUT",P(W)+"/state",{action:"stop",force:!0,timeout:-1}),await U("DELETE",P(W))}else await U("PUT",P(W)+"/state",{action:i,timeout:30,force:!1})}catch(K){C.push(`${W}: ${K.message}`)}},F=[...k];await Promise.all([0,1,2,3].map(async()=>{for(;F.length;)await L(F.shift())})),d(C),i==="delete"&&y(new Set)}let Q=[...D];return t`<section class="page">
    <header class="page-head">
      <h1>Instances <small data-testid="instance-count">${l.loaded?X:""}</small></h1>
      <${z} href="/ui/launch" class="button primary" data-testid="launch-link">Launch<//>
    </header>
    <div class="toolbar">
      <input type="search" placeholder="Filter: name, status:running, profile:web, config.limits.cpu=2" value=${s} aria-label="Filter instances"
        data-testid="filter" onInput=${i=>{n(i.target.value),f(0)}} />
      <div class="chips">${Qe.map(i=>t`<button class=${"chip"+(s.includes("status:"+i.toLowerCase())?" on":"")}
        onClick=${()=>{let k="status:"+i.toLowerCase();n(s.includes(k)?s.replace(k,"").trim():(s.replace(/status:\w+/g,"").trim()+" "+k).trim()),f(0)}}>${i}</button>`)}</div>
    </div>
    <div class="toolbar bulk" data-testid="bulk-bar">
      <span>${Q.length?`${Q.length} selected`:"Select instances for bulk actions"}</span>
      ${["start","stop","restart","delete"].map(i=>t`<button disabled=${!Q.length} class=${i==="delete"?"danger":""}
        data-testid=${"bulk-"+i} onClick=${()=>x(i)}>${i[0].toUpperCase()+i.slice(1)}</button>`)}
    </div>
    ${O.length?t`<ul class="error" role="alert">${O.map(i=>t`<li>${i}</li>`)}</ul>`:null}
    <${j} error=${R} />
    ${!l.loaded&&!R?t`<p class="muted">Loading instances…</p>`:null}
    ${l.loaded?t`<table class="list instances" data-testid="instances-table">
      <thead><tr>
        <th class="sel"><input type="checkbox" aria-label="Select all on this page" checked=${$e} onChange=${Fe} /></th>
        ${Object.entries(Ge).filter(([i])=>i!=="last_used_at"&&i!=="created_at").map(([i,k])=>t`<th class=${"c-"+i}>
          <button class="sort" aria-sort=${c===i?o?"descending":"ascending":"none"} onClick=${()=>he(i)}>${k}${c===i?o?" \u25BE":" \u25B4":""}</button></th>`)}
        <th class="c-ipv4">IPv4</th><th class="c-mem">Memory</th><th class="c-snap">Snapshots</th>
        <th class="c-created"><button class="sort" onClick=${()=>he("created_at")}>Created${c==="created_at"?o?" \u25BE":" \u25B4":""}</button></th>
        <th class="c-act"></th>
      </tr></thead>
      <tbody>${E.map(i=>t`<${Ke} key=${i.name} inst=${i} state=${l.states.get(i.name)} checked=${D.has(i.name)} onToggle=${Ae} />`)}</tbody>
    </table>
    ${E.length===0?t`<p class="muted" data-testid="empty">${X===0&&!s?"No instances yet.":"No instance matches the filter."}</p>`:null}
    <nav class="pager">
      <button disabled=${m===0} onClick=${()=>f(m-1)}>‹ Prev</button>
      <span>Page ${m+1} of ${ae}</span>
      <button disabled=${m+1>=ae} onClick=${()=>f(m+1)}>Next ›</button>
      <select aria-label="Rows per page" value=${r} onChange=${i=>{g(+i.target.value),f(0)}}>${qe.map(i=>t`<option value=${i}>${i} / page</option>`)}</select>
    </nav>`:null}
    ${h?t`<${Y} title=${`${h[0].toUpperCase()+h.slice(1)} ${Q.length} instance${Q.length>1?"s":""}?`} yes=${h[0].toUpperCase()+h.slice(1)}
        danger=${h==="delete"||h==="stop"} onNo=${()=>x(null)} onYes=${()=>Be(h,Q)}>
        <p>${h==="delete"?"Running instances are stopped first. Their snapshots and data are deleted; this cannot be undone.":""}</p>
        <ul class="names">${Q.map(i=>t`<li>${i}</li>`)}</ul><//>`:null}
  </section>`}function Ke({inst:e,state:s,checked:n,onToggle:c}){let a=oe(s,"inet"),o=s?.memory?.usage,u=async r=>{try{await U("PUT",P(e.name)+"/state",{action:r,timeout:30})}catch(g){alert(g.message)}};return t`<tr data-testid=${"row-"+e.name} data-status=${e.status}>
    <td class="sel"><input type="checkbox" aria-label=${"Select "+e.name} checked=${n} onChange=${()=>c(e.name)} /></td>
    <td class="c-name"><${z} href=${"/ui/instances/"+M(e.name)}>${e.name}<//><div class="sub">${e.description||e.config?.["image.description"]||""}</div></td>
    <td class="c-status"><${re} s=${e.status} /></td>
    <td class="c-type">${e.type}</td>
    <td class="c-ipv4">${a.join(" ")}</td>
    <td class="c-mem">${e.status==="Running"&&o?N(o):""}</td>
    <td class="c-snap">${e.snapshot_count??(e.snapshots?e.snapshots.length:"")}</td>
    <td class="c-created">${(e.created_at||"").slice(0,10)}</td>
    <td class="c-act">${e.status==="Running"?t`<button class="small" onClick=${()=>u("stop")} data-testid=${"stop-"+e.name}>Stop</button>`:t`<button class="small" onClick=${()=>u("start")} data-testid=${"start-"+e.name}>Start</button>`}</td>
  </tr>`}function se(e){let s;return(s=/config key "([^"]+)"/.exec(e))?"config."+s[1]:(s=/device "([^"]+)"/.exec(e))?"devices."+s[1]:/instance name|already exists/.test(e)?"name":/storage pool/.test(e)?"pool":/profile "/.test(e)?"profiles":/network "/.test(e)?"network":/image|alias|fingerprint|simplestreams|remote server/i.test(e)?"image":""}function _e(e,s="eth0"){let n=se(e);return n==="devices.root"?"pool":n==="devices."+s?"network":n==="config.limits.cpu"||n==="config.limits.memory"?n:n.startsWith("config.")?"config":n.startsWith("devices.")?"devices":n}var Pe=256*1024;function Ie({name:e}){let[s,n]=p("/"),[c,a]=p(null),[o,u]=p(null),[r,g]=p(null),[m,f]=p(null),$=d=>`${P(e)}/files?path=${encodeURIComponent(d)}`,w=(d,l)=>(d.endsWith("/")?d:d+"/")+l,_=async d=>{u(null);try{let v=await(await J("GET",$(d))).json();if(v.type==="error")throw new Error(v.error);a((v.metadata||[]).sort()),n(d)}catch(l){u(l)}};T(()=>{_("/")},[e]);let R=async d=>{let l=w(s,d);u(null);try{let v=await J("GET",$(l));if(v.headers.get("X-Lxd-Type")==="directory"){let ae=await v.json();a((ae.metadata||[]).sort()),n(l);return}if(!v.ok)throw new Error((await v.json().catch(()=>({}))).error||`HTTP ${v.status}`);let E=await v.arrayBuffer(),X=E.byteLength<=Pe?new TextDecoder("utf-8",{fatal:!0}).decode(E):null;g({path:l,text:X,size:E.byteLength,mode:v.headers.get("X-Lxd-Mode"),uid:v.headers.get("X-Lxd-Uid"),gid:v.headers.get("X-Lxd-Gid")})}catch(v){v instanceof TypeError?g({path:l,text:null}):u(v)}},S=async(d,l,v={})=>{let b=await J("POST",$(d),l,{"X-Lxd-Type":"file","Content-Type":"application/octet-stream",...v}),E=await b.json().catch(()=>({}));if(!b.ok||E.type==="error")throw new Error(E.error||`HTTP ${b.status}`)},D=async d=>{let l=d.target.files[0];if(l){try{await S(w(s,l.name),l,{"X-Lxd-Mode":"0644"}),_(s)}catch(v){u(v)}d.target.value=""}},y=async()=>{let d=prompt("New directory name");if(d)try{await S(w(s,d),new Blob([]),{"X-Lxd-Type":"directory","X-Lxd-Mode":"0755"}),_(s)}catch(l){u(l)}},h=async d=>{f(null);let v=await(await J("DELETE",$(d))).json().catch(()=>({}));v.type==="error"?u(new Error(v.error)):_(s)},x=async()=>{try{let d={"X-Lxd-Mode":r.mode||"0644"};r.uid&&(d["X-Lxd-Uid"]=r.uid),r.gid&&(d["X-Lxd-Gid"]=r.gid),await S(r.path,new Blob([r.text]),d),g(null),_(s)}catch(d){u(d)}},O=s==="/"?null:s.replace(/\/[^/]+\/?$/,"")||"/";return r?t`<div class="files"><h3>${r.path}</h3><${j} error=${o} />
      ${r.text!=null?t`<textarea class="yaml" rows="20" spellcheck="false" value=${r.text} onInput=${d=>g({...r,text:d.target.value})} data-testid="file-editor"></textarea>`:t`<p class="muted">Not shown: a binary file or over ${N(Pe)}.</p>`}
      <div class="row-actions">${r.text!=null?t`<button class="primary" onClick=${x} data-testid="file-save">Save</button>`:null}
        <a class="button" href=${$(r.path)} download=${r.path.split("/").pop()}>Download</a><button onClick=${()=>g(null)}>Close</button></div></div>`:t`<div class="files">
    <div class="toolbar"><code data-testid="files-path">${s}</code>
      <label class="button">Upload<input type="file" class="hidden" onChange=${D} /></label><button onClick=${y}>New directory</button></div>
    <${j} error=${o} />
    <ul class="file-list" data-testid="file-list">
      ${O?t`<li><button class="link" onClick=${()=>_(O)}>..</button></li>`:null}
      ${(c||[]).map(d=>t`<li><button class="link" onClick=${()=>R(d)}>${d}</button>
        <span class="row-actions"><a class="small" href=${$(w(s,d))} download=${d}>download</a><button class="small danger" onClick=${()=>f(w(s,d))}>delete</button></span></li>`)}
    </ul>
    ${m?t`<${Y} title=${"Delete "+m+"?"} yes="Delete" danger onNo=${()=>f(null)} onYes=${()=>h(m)}><p>This cannot be undone.</p><//>`:null}
  </div>`}var Ve=[["","Overview"],["config","Configuration"],["snapshots","Snapshots"],["console","Console"],["terminal","Terminal"],["files","Files"]];function Oe({name:e}){let{query:s}=V(),n=s.get("tab")||"",[c,a]=p(null),[o,u]=p(null),[r,g]=p(null),[m,f]=p(""),$=()=>G("GET",P(e)+"?recursion=1").then(S=>{a({...S.metadata,etag:S.etag}),u(null)},u);T(()=>{$()},[e]),T(()=>A(S=>{if(S.type==="resync"){$();return}if(S.type!=="lifecycle")return;let D=/^\/1\.0\/instances\/([^/?]+)/.exec(S.metadata?.source||"");if(!(!D||decodeURIComponent(D[1])!==e||S.metadata.action==="instance-exec")){if(S.metadata.action==="instance-deleted"){te("/ui/");return}$()}}),[e]),T(()=>{if(n!==""||c?.status!=="Running")return;let S=setInterval(()=>{document.hidden||I(P(e)+"/state").then(D=>a(y=>y&&{...y,state:D}),()=>{})},5e3);return()=>clearInterval(S)},[n,c?.status,e]);let w=async(S,D)=>{f(S),u(null);try{if(S==="delete"){c.status!=="Stopped"&&await U("PUT",P(e)+"/state",{action:"stop",force:!0,timeout:-1}),await U("DELETE",P(e)),te("/ui/");return}await U("PUT",P(e)+"/state",D||{action:S,timeout:30})}catch(y){u(y)}finally{f("")}};if(!c)return t`<section class="page"><${j} error=${o} />${o?null:t`<p class="muted">Loading…</p>`}</section>`;let _=c.status==="Running",R=c.status==="Frozen";return t`<section class="page">
    <header class="page-head">
      <h1><${z} href="/ui/">Instances<//> / <span data-testid="instance-name">${e}</span> <${re} s=${c.status} /></h1>
      <div class="row-actions">
        ${!_&&!R?t`<button class="primary" disabled=${m} onClick=${()=>w("start")} data-testid="action-start">Start</button>`:null}
        ${_?t`<button disabled=${m} onClick=${()=>w("restart")}>Restart</button>`:null}
        ${_?t`<button disabled=${m} onClick=${()=>w("freeze")}>Freeze</button>`:null}
        ${R?t`<button disabled=${m} onClick=${()=>w("unfreeze")}>Unfreeze</button>`:null}
        ${_||R?t`<button disabled=${m} onClick=${()=>g("stop")} data-testid="action-stop">Stop</button>`:null}
        <button class="danger" disabled=${m} onClick=${()=>g("delete")} data-testid="action-delete">Delete</button>
      </div>
    </header>
    ${m?t`<p class="muted" role="status">${m}…</p>`:null}
    <${j} error=${o} />
    <${be} tabs=${Ve} current=${n} base=${"/ui/instances/"+M(e)} />
    ${n===""?t`<${He} inst=${c} />`:null}
    ${n==="config"?t`<${Je} inst=${c} reload=${$} />`:null}
    ${n==="snapshots"?t`<${Ze} inst=${c} reload=${$} />`:null}
    ${n==="console"?t`<${et} name=${e} />`:null}
    ${n==="terminal"?t`<${tt} name=${e} running=${_} />`:null}
    ${n==="files"?t`<${Ie} name=${e} running=${_} />`:null}
    ${r?t`<${Y} title=${r==="delete"?`Delete ${e}?`:`Stop ${e}?`} yes=${r==="delete"?"Delete":"Stop"} danger
      onNo=${()=>g(null)} onYes=${()=>{let S=r;g(null),w(S)}}>
      <p>${r==="delete"?"The instance, its snapshots and its data are deleted. This cannot be undone.":"The instance is asked to shut down (30 s, then forced)."}</p><//>`:null}
  </section>`}function He({inst:e}){let s=e.state||{},n=e.expanded_config||e.config||{},c=Object.entries(s.network||{}).filter(([o])=>o!=="lo"),a=Object.entries(s.disk||{});return t`<div class="cards">
    <div class="card"><h3>State</h3><dl>
      <dt>Status</dt><dd data-testid="ov-status">${e.status}</dd>
      <dt>PID</dt><dd>${s.pid||""}</dd><dt>Processes</dt><dd>${s.processes>0?s.processes:""}</dd>
      <dt>Image</dt><dd>${n["image.description"]||""}</dd>
      <dt>Profiles</dt><dd>${(e.profiles||[]).join(", ")}</dd>
      <dt>Created</dt><dd>${H(e.created_at)}</dd><dt>Last used</dt><dd>${H(e.last_used_at)}</dd>
    </dl></div>
    <div class="card"><h3>Usage</h3><dl>
      <dt>Memory</dt><dd>${N(s.memory?.usage)}${s.memory?.usage_peak?` (peak ${N(s.memory.usage_peak)})`:""}${n["limits.memory"]?` of ${n["limits.memory"]}`:""}</dd>
      <dt>CPU time</dt><dd>${s.cpu?.usage?(s.cpu.usage/1e9).toFixed(1)+" s":""}${n["limits.cpu"]?` (limit ${n["limits.cpu"]} CPUs)`:""}</dd>
      ${a.map(([o,u])=>t`<dt>Disk ${o}</dt><dd>${N(u.usage)}</dd>`)}
    </dl></div>
    <div class="card"><h3>Network</h3>${c.length?t`<dl>${c.map(([o,u])=>t`<dt>${o}</dt><dd>${(u.addresses||[]).filter(r=>r.scope==="global").map(r=>t`<div>${r.address}/${r.netmask}</div>`)}
      <div class="sub">${u.hwaddr} · rx ${N(u.counters?.bytes_received)} · tx ${N(u.counters?.bytes_sent)}</div></dd>`)}</dl>`:t`<p class="muted">${e.status==="Running"?"No interfaces":"Not running"}</p>`}
      <p class="muted">IPv4: <span data-testid="ov-ipv4">${oe(s,"inet").join(", ")}</span></p></div>
  </div>`}function Je({inst:e,reload:s}){let[n,c]=p("form"),a=()=>Object.entries(e.config||{}).filter(([d])=>!d.startsWith("volatile.")&&!d.startsWith("image.")),[o,u]=p(a),[r,g]=p((e.profiles||[]).join(", ")),[m,f]=p(""),[$,w]=p({}),[_,R]=p(!1),[S,D]=p(!1),y=ne(null);T(()=>{u(a()),g((e.profiles||[]).join(", "))},[e.etag]),T(()=>{n==="yaml"&&import("./chunk-MK2R57CU.js").then(d=>{y.current=d,f(d.dump({description:e.description||"",profiles:e.profiles||[],config:Object.fromEntries(a()),devices:e.devices||{}},{sortKeys:!0,lineWidth:-1}))})},[n,e.etag]);async function h(d){d.preventDefault(),w({}),R(!1),D(!0);let l;try{let v=Object.fromEntries(Object.entries(e.config||{}).filter(([b])=>b.startsWith("volatile.")||b.startsWith("image.")));if(n==="yaml"){let b=y.current.load(m)||{};l={description:b.description||"",profiles:b.profiles||[],config:{...v,...Object.fromEntries(Object.entries(b.config||{}).map(([E,X])=>[E,String(X)]))},devices:b.devices||{}}}else l={description:e.description||"",profiles:r.split(",").map(b=>b.trim()).filter(Boolean),config:{...v,...Object.fromEntries(o.filter(([b])=>b.trim()).map(([b,E])=>[b.trim(),E]))},devices:e.devices||{}};l={architecture:e.architecture,ephemeral:e.ephemeral,...l}}catch(v){w({"":"YAML: "+v.message}),D(!1);return}try{await U("PUT",P(e.name),l,e.etag?{"If-Match":e.etag}:{}),R(!0),s()}catch(v){let b=se(v.message);w({[b.startsWith("config.")||b.startsWith("devices.")||b==="profiles"?b:""]:v.message})}finally{D(!1)}}let x=(d,l,v)=>u(o.map((b,E)=>E===d?l===0?[v,b[1]]:[b[0],v]:b)),O=Object.keys($).filter(d=>d.startsWith("config.")&&!o.some(([l])=>"config."+l===d));return t`<form class="config" onSubmit=${h} data-testid="config-form">
    <div class="row-actions">
      <button type="button" class=${n==="form"?"on":""} onClick=${()=>c("form")} data-testid="mode-form">Form</button>
      <button type="button" class=${n==="yaml"?"on":""} onClick=${()=>c("yaml")} data-testid="mode-yaml">YAML</button>
    </div>
    ${$[""]?t`<p class="error" role="alert" data-testid="form-error">${$[""]}</p>`:null}
    ${n==="form"?t`
      <label class="field">Profiles <input value=${r} onInput=${d=>g(d.target.value)} data-testid="cfg-profiles" aria-invalid=${!!$.profiles} />
        ${$.profiles?t`<span class="field-error" role="alert">${$.profiles}</span>`:null}</label>
      <table class="list kv"><thead><tr><th>Key</th><th>Value</th><th></th></tr></thead><tbody>
      ${o.map(([d,l],v)=>t`<tr data-testid=${"cfg-row-"+d}>
        <td><input value=${d} aria-label="Key" onInput=${b=>x(v,0,b.target.value)} data-testid=${"cfg-key-"+v} /></td>
        <td><input value=${l} aria-label=${"Value of "+d} aria-invalid=${!!$["config."+d]} onInput=${b=>x(v,1,b.target.value)} data-testid=${"cfg-val-"+d} />
          ${$["config."+d]?t`<span class="field-error" role="alert" data-testid=${"cfg-err-"+d}>${$["config."+d]}</span>`:null}</td>
        <td><button type="button" class="small" onClick=${()=>u(o.filter((b,E)=>E!==v))} aria-label=${"Remove "+d}>✕</button></td></tr>`)}
      </tbody></table>
      ${O.map(d=>t`<p class="field-error" role="alert">${$[d]}</p>`)}
      <button type="button" onClick=${()=>u([...o,["",""]])} data-testid="cfg-add">Add key</button>
      <h3>Devices</h3>
      <table class="list kv"><tbody>${Object.entries(e.devices||{}).map(([d,l])=>t`<tr><td>${d}</td><td>${Object.entries(l).map(([v,b])=>`${v}=${b}`).join(" ")}
        ${$["devices."+d]?t`<span class="field-error" role="alert">${$["devices."+d]}</span>`:null}</td></tr>`)}</tbody></table>
      <p class="muted">Edit devices in YAML. Profiles add: ${Object.keys(e.expanded_devices||{}).filter(d=>!(e.devices||{})[d]).join(", ")}</p>`:t`
      <textarea class="yaml" spellcheck="false" rows="20" value=${m} onInput=${d=>f(d.target.value)} data-testid="cfg-yaml" aria-label="Configuration as YAML"></textarea>
      ${Object.entries($).filter(([d])=>d).map(([d,l])=>t`<p class="field-error" role="alert" data-testid="yaml-error"><b>${d.replace(/^config\./,"config: ").replace(/^devices\./,"devices: ")}</b> ${l}</p>`)}`}
    <div class="row-actions"><button class="primary" type="submit" disabled=${S} data-testid="cfg-save">Save</button>${_?t`<span class="ok" role="status">Saved</span>`:null}</div>
  </form>`}var je=[["snapshots.schedule","Schedule (cron or @hourly, @daily)"],["snapshots.schedule.stopped","Also when stopped (true/false)"],["snapshots.expiry","Expiry (e.g. 2w)"],["snapshots.pattern","Name pattern (snap%d)"]];function Ze({inst:e,reload:s}){let n=e.name,c=B(()=>I(P(n)+"/snapshots?recursion=1"),[n,e.etag,(e.snapshots||[]).length]),[a,o]=p(""),[u,r]=p(null),[g,m]=p(null),[f,$]=p(()=>Object.fromEntries(je.map(([h])=>[h,(e.config||{})[h]||""]))),[w,_]=p({}),R=async h=>{r(null);try{await h(),c.reload(),s()}catch(x){r(x)}},S=h=>{h.preventDefault(),R(()=>U("POST",P(n)+"/snapshots",{name:a,stateful:!1})).then(()=>o(""))},D=async h=>{h.preventDefault(),_({});let x={...e.config};for(let[O,d]of Object.entries(f))d?x[O]=d:delete x[O];try{await U("PUT",P(n),{architecture:e.architecture,ephemeral:e.ephemeral,description:e.description,profiles:e.profiles,devices:e.devices,config:x},e.etag?{"If-Match":e.etag}:{}),s()}catch(O){_({[se(O.message)]:O.message})}},y=c.data||[];return t`<div>
    <form class="inline" onSubmit=${S}><input placeholder="snapshot name (optional)" value=${a} onInput=${h=>o(h.target.value)} data-testid="snap-name" />
      <button class="primary" type="submit" data-testid="snap-create">Create snapshot</button></form>
    <${j} error=${u||c.error} />
    <table class="list"><thead><tr><th>Name</th><th>Created</th><th>Expires</th><th></th></tr></thead><tbody>
    ${y.map(h=>t`<tr data-testid=${"snap-"+h.name}><td>${h.name}</td><td>${H(h.created_at)}</td><td>${h.expires_at&&!h.expires_at.startsWith("0001")?new Date(h.expires_at).toLocaleString():""}</td>
      <td class="row-actions"><button class="small" onClick=${()=>m(["restore",h.name])}>Restore</button><button class="small danger" onClick=${()=>m(["delete",h.name])}>Delete</button></td></tr>`)}
    </tbody></table>
    ${!c.loading&&!y.length?t`<p class="muted">No snapshots.</p>`:null}
    <h3>Schedule</h3>
    <form onSubmit=${D}>${je.map(([h,x])=>t`<label class="field">${x}<input value=${f[h]} onInput=${O=>$({...f,[h]:O.target.value})} aria-invalid=${!!w["config."+h]} />
      ${w["config."+h]?t`<span class="field-error" role="alert">${w["config."+h]}</span>`:null}</label>`)}
      ${w[""]?t`<p class="error">${w[""]}</p>`:null}
      <button type="submit">Save schedule</button></form>
    ${g?t`<${Y} title=${`${g[0]==="restore"?"Restore":"Delete"} snapshot ${g[1]}?`} yes=${g[0]==="restore"?"Restore":"Delete"} danger
      onNo=${()=>m(null)} onYes=${()=>{let[h,x]=g;m(null),R(()=>h==="restore"?U("PUT",P(n),{restore:x}):U("DELETE",P(n)+"/snapshots/"+M(x)))}}>
      <p>${g[0]==="restore"?`${n}'s files and config go back to ${g[1]}; changes since are lost.`:"This cannot be undone."}</p><//>`:null}
  </div>`}function et({name:e}){let[s,n]=p(null),[c,a]=p(null),o=()=>J("GET",P(e)+"/logs/console.log").then(async u=>{if(!u.ok)throw new Error((await u.json().catch(()=>({}))).error||`HTTP ${u.status}`);n(await u.text())}).catch(a);return T(()=>{o()},[e]),t`<div><div class="row-actions"><button onClick=${o}>Refresh</button></div><${j} error=${c} />
    <pre class="log" data-testid="console-log">${s??""}</pre>${s===""?t`<p class="muted">The console log is empty.</p>`:null}</div>`}function tt({name:e,running:s}){let[n,c]=p(null);return T(()=>{import("./chunk-Z2ET63EC.js").then(a=>c(()=>a.Terminal))},[]),s?n?t`<${n} name=${e} />`:t`<p class="muted">Loading terminal…</p>`:t`<p class="muted">Start the instance to open a terminal.</p>`}function Ue(){let[e,s]=p(null),[n,c]=p(null),[a,o]=p({source:"local",image:"",server:"",protocol:"simplestreams",alias:"",name:"",profiles:["default"],cpu:"",memory:"",network:"",pool:"",start:!0}),[u,r]=p({}),[g,m]=p(""),[f,$]=p("");T(()=>{Promise.all([I("/1.0/images?recursion=1"),I("/1.0/profiles?recursion=1"),I("/1.0/networks?recursion=1"),I("/1.0/storage-pools?recursion=1")]).then(([y,h,x,O])=>{s({images:y,profiles:h,networks:x.filter(d=>d.managed),pools:O}),y.length&&o(d=>({...d,image:d.image||y[0].fingerprint}))},c)},[]);let w=y=>h=>o({...a,[y]:h.target.type==="checkbox"?h.target.checked:h.target.value}),_=y=>o({...a,profiles:a.profiles.includes(y)?a.profiles.filter(h=>h!==y):[...a.profiles,y]});async function R(y){y.preventDefault(),r({}),$("");let h=a.source==="local"?{type:"image",fingerprint:a.image}:{type:"image",server:a.server.trim(),protocol:a.protocol,alias:a.alias.trim(),mode:"pull"},x={};a.cpu&&(x["limits.cpu"]=a.cpu),a.memory&&(x["limits.memory"]=a.memory);let O={};if(a.network&&(O.eth0={type:"nic",name:"eth0",network:a.network}),a.pool&&(O.root={type:"disk",path:"/",pool:a.pool}),!a.name.trim()){r({name:"Give the instance a name."});return}if(a.source==="local"&&!a.image){r({image:"Pick an image."});return}if(a.source==="remote"&&(!a.server||!a.alias)){r({image:"Give the remote server URL and the image alias."});return}let d=a.name.trim(),l=null,v=A(b=>{if(b.type==="operation"&&b.metadata?.id===l){let E=b.metadata.metadata||{};E.download_progress?$(E.download_progress):E.create_instance_from_image_unpack_progress&&$(E.create_instance_from_image_unpack_progress)}});try{m("Creating");let b=await G("POST","/1.0/instances",{name:d,source:h,profiles:a.profiles,config:x,devices:O,type:"container"});b.type==="async"&&(l=b.metadata.id,await we(b.metadata)),a.start&&(m("Starting"),await U("PUT",P(d)+"/state",{action:"start",timeout:30})),te("/ui/instances/"+M(d))}catch(b){let E=_e(b.message);r({[E]:b.message}),m("")}finally{v()}}if(n)return t`<section class="page"><${j} error=${n} /></section>`;if(!e)return t`<section class="page"><p class="muted">Loading…</p></section>`;let S=y=>u[y]?t`<span class="field-error" role="alert" data-testid=${"err-"+y}>${u[y]}</span>`:null,D=y=>`${(y.aliases||[]).map(h=>h.name).join(", ")||y.fingerprint.slice(0,12)}${y.properties?.description?" \u2014 "+y.properties.description:""}`;return t`<section class="page narrow">
    <header class="page-head"><h1><${z} href="/ui/">Instances<//> / Launch</h1></header>
    <form onSubmit=${R} data-testid="launch-form" novalidate>
      ${u[""]?t`<p class="error" role="alert" data-testid="err-form">${u[""]}</p>`:null}
      <fieldset><legend>Image</legend>
        <label class="inline"><input type="radio" name="src" checked=${a.source==="local"} onChange=${()=>o({...a,source:"local"})} /> Local</label>
        <label class="inline"><input type="radio" name="src" checked=${a.source==="remote"} onChange=${()=>o({...a,source:"remote"})} data-testid="src-remote" /> From a remote server</label>
        ${a.source==="local"?t`<label class="field">Image<select value=${a.image} onChange=${w("image")} data-testid="image" aria-invalid=${!!u.image}>
            ${e.images.map(y=>t`<option value=${y.fingerprint}>${D(y)}</option>`)}</select>
            ${e.images.length?null:t`<span class="muted">No local images: build one (lodge image build busybox) or use a remote.</span>`}</label>`:t`<label class="field">Server URL<input value=${a.server} placeholder="https://images.example.org" onInput=${w("server")} data-testid="remote-server" /></label>
            <label class="field">Protocol<select value=${a.protocol} onChange=${w("protocol")}><option>simplestreams</option><option>lxd</option></select></label>
            <label class="field">Alias<input value=${a.alias} placeholder="debian/12" onInput=${w("alias")} data-testid="remote-alias" /></label>`}
        ${S("image")}
      </fieldset>
      <label class="field">Name<input value=${a.name} onInput=${w("name")} autocomplete="off" data-testid="name" aria-invalid=${!!u.name} />${S("name")}</label>
      <fieldset><legend>Profiles</legend>${e.profiles.map(y=>t`<label class="inline"><input type="checkbox" checked=${a.profiles.includes(y.name)} onChange=${()=>_(y.name)} /> ${y.name}</label>`)}${S("profiles")}</fieldset>
      <div class="grid2">
        <label class="field">CPUs (limits.cpu)<input value=${a.cpu} placeholder="e.g. 2" onInput=${w("cpu")} data-testid="limits-cpu" aria-invalid=${!!u["config.limits.cpu"]} />${S("config.limits.cpu")}</label>
        <label class="field">Memory (limits.memory)<input value=${a.memory} placeholder="e.g. 512MiB" onInput=${w("memory")} data-testid="limits-memory" aria-invalid=${!!u["config.limits.memory"]} />${S("config.limits.memory")}</label>
        <label class="field">Network<select value=${a.network} onChange=${w("network")} data-testid="network" aria-invalid=${!!u.network}><option value="">from the profiles</option>${e.networks.map(y=>t`<option>${y.name}</option>`)}</select>${S("network")}</label>
        <label class="field">Storage pool<select value=${a.pool} onChange=${w("pool")} data-testid="pool" aria-invalid=${!!u.pool}><option value="">from the profiles</option>${e.pools.map(y=>t`<option>${y.name}</option>`)}</select>${S("pool")}</label>
      </div>
      ${S("config")}${S("devices")}
      <label class="inline"><input type="checkbox" checked=${a.start} onChange=${w("start")} data-testid="start" /> Start it</label>
      <div class="row-actions"><button class="primary" type="submit" disabled=${!!g} data-testid="launch-submit">${g?g+"\u2026":"Launch"}</button>
        ${f?t`<span class="muted" role="status" data-testid="launch-progress">${f}</span>`:null}</div>
    </form></section>`}function le(e,s){T(()=>A(n=>{(n.type==="resync"||n.type==="lifecycle"&&(n.metadata?.action||"").startsWith(e))&&s()}),[s])}function De(){let e=B(()=>I("/1.0/images?recursion=1"),[]);le("image-",e.reload);let[s,n]=p(null),[c,a]=p(null);return t`<section class="page"><header class="page-head"><h1>Images</h1></header><${j} error=${e.error||c} />
    <table class="list" data-testid="images-table"><thead><tr><th>Alias</th><th>Fingerprint</th><th>Description</th><th class="c-size">Size</th><th class="c-created">Uploaded</th><th></th></tr></thead><tbody>
    ${(e.data||[]).map(o=>t`<tr><td>${(o.aliases||[]).map(u=>u.name).join(", ")}</td><td><code>${o.fingerprint.slice(0,12)}</code></td>
      <td>${o.properties?.description||""}</td><td class="c-size">${N(o.size)}</td><td class="c-created">${H(o.uploaded_at)}</td>
      <td><button class="small danger" onClick=${()=>n(o)}>Delete</button></td></tr>`)}</tbody></table>
    ${s?t`<${Y} title=${"Delete image "+s.fingerprint.slice(0,12)+"?"} yes="Delete" danger onNo=${()=>n(null)}
      onYes=${async()=>{let o=s;n(null);try{await U("DELETE","/1.0/images/"+o.fingerprint),e.reload()}catch(u){a(u)}}}><p>Instances made from it keep working.</p><//>`:null}
  </section>`}function Re({url:e,obj:s,fields:n,onDone:c}){let[a,o]=p(null),[u,r]=p(null),[g,m]=p(null);T(()=>{import("./chunk-MK2R57CU.js").then($=>{m($),o($.dump(Object.fromEntries(n.map(w=>[w,s[w]??(w==="description"?"":{})])),{sortKeys:!0,lineWidth:-1}))})},[e]);let f=async()=>{r(null);try{let $=g.load(a)||{};await U("PUT",e,$),c()}catch($){let w=se($.message);r(w?`${w.replace(".",": ")} \u2014 ${$.message}`:$.message)}};return a==null?t`<p class="muted">Loading…</p>`:t`<div class="yaml-edit"><textarea class="yaml" rows="14" spellcheck="false" value=${a} onInput=${$=>o($.target.value)}></textarea>
    ${u?t`<p class="field-error" role="alert">${u}</p>`:null}<div class="row-actions"><button class="primary" onClick=${f}>Save</button><button onClick=${c}>Cancel</button></div></div>`}function Ne(){let e=B(()=>I("/1.0/profiles?recursion=1"),[]);le("profile-",e.reload);let[s,n]=p(""),[c,a]=p(""),[o,u]=p(null),[r,g]=p(null),m=async f=>{f.preventDefault(),u(null);try{await U("POST","/1.0/profiles",{name:c,config:{},devices:{}}),a(""),e.reload()}catch($){u($)}};return t`<section class="page"><header class="page-head"><h1>Profiles</h1></header><${j} error=${e.error||o} />
    <form class="inline" onSubmit=${m}><input placeholder="new profile name" value=${c} onInput=${f=>a(f.target.value)} /><button type="submit">Create</button></form>
    ${(e.data||[]).map(f=>t`<div class="card wide"><h3>${f.name} <small>${f.description}</small></h3>
      ${s===f.name?t`<${Re} url=${"/1.0/profiles/"+M(f.name)} obj=${f} fields=${["description","config","devices"]} onDone=${()=>{n(""),e.reload()}} />`:t`
      <dl>${Object.entries(f.config||{}).map(([$,w])=>t`<dt>${$}</dt><dd>${w}</dd>`)}${Object.entries(f.devices||{}).map(([$,w])=>t`<dt>device ${$}</dt><dd>${Object.entries(w).map(([_,R])=>`${_}=${R}`).join(" ")}</dd>`)}</dl>
      <p class="muted">Used by ${(f.used_by||[]).length}</p>
      <div class="row-actions"><button class="small" onClick=${()=>n(f.name)}>Edit</button>${f.name!=="default"?t`<button class="small danger" onClick=${()=>g(f.name)}>Delete</button>`:null}</div>`}</div>`)}
    ${r?t`<${Y} title=${"Delete profile "+r+"?"} yes="Delete" danger onNo=${()=>g(null)} onYes=${async()=>{let f=r;g(null);try{await U("DELETE","/1.0/profiles/"+M(f)),e.reload()}catch($){u($)}}} />`:null}
  </section>`}function Me(){let e=B(()=>I("/1.0/networks?recursion=1"),[]);le("network-",e.reload);let[s,n]=p(""),[c,a]=p("");return t`<section class="page"><header class="page-head"><h1>Networks</h1></header><${j} error=${e.error} />
    <table class="list"><thead><tr><th>Name</th><th>Type</th><th>IPv4</th><th class="c-ipv6">IPv6</th><th>Used by</th><th></th></tr></thead><tbody>
    ${(e.data||[]).filter(o=>o.managed).map(o=>t`<tr><td>${o.name}</td><td>${o.type}</td><td>${o.config?.["ipv4.address"]||""}</td><td class="c-ipv6">${o.config?.["ipv6.address"]||""}</td>
      <td>${(o.used_by||[]).length}</td><td class="row-actions"><button class="small" onClick=${()=>n(s===o.name?"":o.name)}>Leases</button><button class="small" onClick=${()=>a(o.name)}>Edit</button></td></tr>
      ${s===o.name?t`<tr><td colspan="6"><${st} name=${o.name} /></td></tr>`:null}
      ${c===o.name?t`<tr><td colspan="6"><${Re} url=${"/1.0/networks/"+M(o.name)} obj=${o} fields=${["description","config"]} onDone=${()=>{a(""),e.reload()}} /></td></tr>`:null}`)}
    </tbody></table></section>`}function st({name:e}){let s=B(()=>I("/1.0/networks/"+M(e)+"/leases"),[e]);return t`<${j} error=${s.error} /><table class="list inner" data-testid="leases"><thead><tr><th>Host</th><th>Address</th><th>MAC</th><th>Type</th></tr></thead><tbody>
    ${(s.data||[]).map(n=>t`<tr><td>${n.hostname}</td><td>${n.address}</td><td>${n.hwaddr}</td><td>${n.type}</td></tr>`)}</tbody></table>
    ${s.data&&!s.data.length?t`<p class="muted">No leases.</p>`:null}`}function We(){let e=B(()=>I("/1.0/storage-pools?recursion=1"),[]);le("storage-",e.reload);let[s,n]=p("");return t`<section class="page"><header class="page-head"><h1>Storage</h1></header><${j} error=${e.error} />
    <table class="list"><thead><tr><th>Pool</th><th>Driver</th><th>Source</th><th>Status</th><th></th></tr></thead><tbody>
    ${(e.data||[]).map(c=>t`<tr><td>${c.name}</td><td>${c.driver}</td><td><code>${c.config?.source||""}</code></td><td>${c.status}</td>
      <td><button class="small" onClick=${()=>n(s===c.name?"":c.name)}>Volumes</button></td></tr>
      ${s===c.name?t`<tr><td colspan="5"><${at} pool=${c.name} /></td></tr>`:null}`)}
    </tbody></table></section>`}function at({pool:e}){let s=B(()=>I("/1.0/storage-pools/"+M(e)+"/volumes?recursion=1"),[e]),c=B(()=>I("/1.0/storage-pools/"+M(e)+"/resources"),[e]).data?.space;return t`${c?t`<p class="muted">Used ${N(c.used)} of ${N(c.total)}</p>`:null}<${j} error=${s.error} />
    <table class="list inner"><thead><tr><th>Type</th><th>Name</th><th>Used by</th></tr></thead><tbody>
    ${(s.data||[]).map(a=>t`<tr><td>${a.type}</td><td>${a.name}</td><td>${(a.used_by||[]).join(", ")}</td></tr>`)}</tbody></table>`}function ze(){let[e,s]=p(null),[n,c]=p(null),a=()=>I("/1.0/operations?recursion=1").then(r=>{let g=[...r.running||[],...r.success||[],...r.failure||[]];s(new Map(g.map(m=>[m.id,m])))},c);T(()=>{a()},[]),T(()=>A(r=>{if(r.type==="resync"){a();return}r.type==="operation"&&s(g=>new Map(g||[]).set(r.metadata.id,r.metadata))}),[]);let o=async r=>{try{await G("DELETE","/1.0/operations/"+r.id)}catch(g){c(g)}},u=[...e?.values()||[]].sort((r,g)=>r.created_at<g.created_at?1:-1);return t`<section class="page"><header class="page-head"><h1>Operations</h1></header><${j} error=${n} />
    <table class="list" data-testid="operations-table"><thead><tr><th>Description</th><th>Status</th><th>Resources</th><th class="c-created">Started</th><th></th></tr></thead><tbody>
    ${u.map(r=>t`<tr><td>${r.description}${r.metadata?.download_progress?t`<div class="sub">${r.metadata.download_progress}</div>`:null}${r.err?t`<div class="sub error">${r.err}</div>`:null}</td>
      <td>${r.status}</td><td>${Object.values(r.resources||{}).flat().filter((g,m,f)=>f.indexOf(g)===m).map(g=>g.replace(/^\/1\.0\//,"")).join(", ")}</td>
      <td class="c-created">${H(r.created_at)}</td><td>${r.may_cancel&&r.status_code<200?t`<button class="small danger" onClick=${()=>o(r)}>Cancel</button>`:null}</td></tr>`)}
    </tbody></table>${e&&!u.length?t`<p class="muted">No recent operations.</p>`:null}</section>`}var nt=[["/ui/","Instances"],["/ui/images","Images"],["/ui/profiles","Profiles"],["/ui/networks","Networks"],["/ui/storage","Storage"],["/ui/operations","Operations"]];function ot(){let{path:e}=V(),s;return e==="/ui/"||e==="/ui"?t`<${Te} />`:e==="/ui/launch"?t`<${Ue} />`:(s=/^\/ui\/instances\/([^/]+)$/.exec(e))?t`<${Oe} name=${decodeURIComponent(s[1])} key=${s[1]} />`:e==="/ui/images"?t`<${De} />`:e==="/ui/profiles"?t`<${Ne} />`:e==="/ui/networks"?t`<${Me} />`:e==="/ui/storage"?t`<${We} />`:e==="/ui/operations"?t`<${ze} />`:t`<section class="page"><h1>Not found</h1><p><${z} href="/ui/">Back to the instances<//></p></section>`}function rt({auth:e}){let{path:s}=V(),[n,c]=p(()=>new Set);T(()=>A(o=>{if(o.type!=="operation")return;let u=o.metadata;c(r=>{let g=r.has(u.id),m=u.status_code<200;if(g===m)return r;let f=new Set(r);return m?f.add(u.id):f.delete(u.id),f})}),[]);let a=o=>o==="/ui/"?s==="/ui/"||s.startsWith("/ui/instances")||s==="/ui/launch":s.startsWith(o);return t`<header class="top">
      <${z} href="/ui/" class="brand">lodge<//>
      <nav class="main-nav">${nt.map(([o,u])=>t`<${z} href=${o} class=${a(o)?"on":""}>${u}${u==="Operations"&&n.size>0?t` <span class="badge">${n.size}</span>`:null}<//>`)}</nav>
      <span class="who">${q.server?.environment?.server_name||""}${e.auth==="session"?t` <button class="small" onClick=${ve} data-testid="logout">Log out</button>`:null}</span>
    </header>
    <main><${ot} /></main>`}async function lt(){let e=document.getElementById("app");new URLSearchParams(location.search).has("login")&&history.replaceState(null,"",location.pathname);try{let[s,n]=await Promise.all([ye(),I("/1.0")]);ke(n),e.textContent="",ie(t`<${rt} auth=${s} />`,e)}catch(s){e.textContent="",ie(t`<section class="page"><${j} error=${s} /></section>`,e)}}lt();
