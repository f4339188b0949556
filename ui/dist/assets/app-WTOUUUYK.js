import{a as ie,b as p,c as T,d as ne,e as t,f as te,g as V,h as A,i as N,j as H,k as oe,l as B,m as j,n as Y,o as re,p as ge,q as be,r as ye,s as J,t as G,u as I,v as ve,w as U,x as M,y as P}from"./chunk-WUJX3SZW.js";var q={instancesQuery:!1,extensions:[],server:null};function we(e){q.server=e,q.extensions=e.api_extensions||[],q.instancesQuery=q.extensions.includes("lodge_instances_query")}var ce=new Set,Z=null,de=0,ke=!1;function z(e){return ce.add(e),ue(),()=>ce.delete(e)}function Se(e){for(let s of[...ce])try{s(e)}catch(n){console.error(n)}}function ue(){if(Z)return;let e=location.protocol==="https:"?"wss:":"ws:";Z=new WebSocket(`${e}//${location.host}/1.0/events?type=operation,lifecycle`),Z.onopen=()=>{de=0,ke&&Se({type:"resync"}),ke=!0,document.body.dataset.events="open"},Z.onmessage=s=>{try{Se(JSON.parse(s.data))}catch{}},Z.onclose=()=>{Z=null,document.body.dataset.events="closed";let s=Math.min(3e4,250*2**de++);setTimeout(ue,s)}}document.addEventListener("visibilitychange",()=>{!document.hidden&&!Z&&(de=0,ue())});var Fe={name:"Name",status:"Status",type:"Type",created_at:"Created",last_used_at:"Last used"},Be=[50,100,250],Ye=["Running","Stopped","Frozen","Error"];function Ce(e){let s=[],n=[];for(let c of e.trim().split(/\s+/).filter(Boolean)){let a=/^([a-z_][\w.-]*)[:=](.+)$/i.exec(c);a?n.push([a[1].toLowerCase()==="status"?"status":a[1],a[2]]):s.push(c.toLowerCase())}return{words:s,exact:n}}var Xe=(e,s)=>s.startsWith("config.")?(e.expanded_config||e.config||{})[s.slice(7)]??"":s==="profile"||s==="profiles"?(e.profiles||[]).join(","):e[s]??"";function Ge(e,{words:s,exact:n}){for(let c of s)if(!e.name.toLowerCase().includes(c)&&!(e.description||"").toLowerCase().includes(c))return!1;for(let[c,a]of n){let o=String(Xe(e,c));if(c==="profile"||c==="profiles"?!o.split(",").includes(a):o.toLowerCase()!==a.toLowerCase())return!1}return!0}function qe(e,s){return(n,c)=>{let a=String(n[e]??""),o=String(c[e]??""),u=a<o?-1:a>o?1:n.name<c.name?-1:n.name>c.name?1:0;return s?-u:u}}function Ke({q:e,sort:s,desc:n,size:c,page:a}){let{words:o,exact:u}=Ce(e),i=new URLSearchParams({recursion:"2"}),h=u.map(([g,b])=>`${g==="profile"?"profiles":g} eq ${g==="status"?b[0].toUpperCase()+b.slice(1).toLowerCase():b}`);return h.length&&i.set("filter",h.join(" and ")),o.length&&i.set("search",o.join(" ")),i.set("sort",(n?"-":"")+s),i.set("limit",String(c)),i.set("offset",String(a*c)),i.toString()}function Ee(){let{query:e}=V(),[s,n]=p(e.get("q")||""),[c,a]=p(e.get("sort")||"name"),[o,u]=p(e.get("desc")==="1"),[i,h]=p(+e.get("size")||50),[g,b]=p(+e.get("page")||0),[,m]=p(0),[w,_]=p(0),[R,S]=p(null),[D,y]=p(new Set),[f,x]=p(null),[O,d]=p([]),r=ne({all:null,page:null,total:0,states:new Map,busy:new Map,loaded:!1}).current,v=q.instancesQuery,$=()=>m(l=>l+1);T(()=>{let l=new URLSearchParams;s&&l.set("q",s),c!=="name"&&l.set("sort",c),o&&l.set("desc","1"),i!==50&&l.set("size",i),g&&l.set("page",g);let k=l.toString();history.replaceState(null,"",location.pathname+(k?"?"+k:""))},[s,c,o,i,g]),T(()=>{let l=!0;return v?G("GET","/1.0/instances?"+Ke({q:s,sort:c,desc:o,size:i,page:g})).then(k=>{if(l){r.page=k.metadata,r.total=+(k.headers.get("X-Lodge-Total-Count")||k.metadata.length);for(let C of k.metadata)C.state&&r.states.set(C.name,C.state);r.loaded=!0,$()}},k=>l&&S(k)):r.all||I("/1.0/instances?recursion=1").then(k=>{l&&(r.all=new Map(k.map(C=>[C.name,C])),r.loaded=!0,$())},k=>l&&S(k)),()=>{l=!1}},v?[s,c,o,i,g,w]:[w]);let E=[],X=0;if(v&&r.page)E=r.page,X=r.total;else if(r.all){let l=Ce(s),k=[...r.all.values()].filter(C=>Ge(C,l)).sort(qe(c,o));X=k.length,E=k.slice(g*i,g*i+i)}let ae=Math.max(1,Math.ceil(X/i));T(()=>{if(v||!r.loaded)return;let l=E.filter(L=>L.status==="Running"&&!r.states.has(L.name)&&!r.busy.has(L.name)).map(L=>L.name),k=0,C=()=>{let L=l[k++];L&&(r.busy.set(L,"state"),I(P(L)+"/state").then(F=>{r.states.set(L,F),$()},()=>{}).finally(()=>{r.busy.delete(L),C()}))};for(let L=0;L<4;L++)C()}),T(()=>{r.loaded&&!document.body.dataset.tableReady&&(performance.mark("table-ready"),document.body.dataset.tableReady="1")}),T(()=>z(l=>{if(l.type==="resync"){r.all=null,r.page=null,r.states.clear(),_(Q=>Q+1);return}if(l.type!=="lifecycle")return;let k=l.metadata?.source||"",C=l.metadata?.action||"",L=/^\/1\.0\/instances\/([^/?]+)/.exec(k);if(!L||C==="instance-exec"||C.startsWith("instance-console")||C.startsWith("instance-log"))return;let F=decodeURIComponent(L[1]),W=l.metadata?.context?.old_name;if(W&&pe(W),C==="instance-deleted"){pe(F),$();return}me(F,C==="instance-created")}),[]);function pe(l){if(r.states.delete(l),r.all&&r.all.delete(l),r.page){let k=r.page.length;r.page=r.page.filter(C=>C.name!==l),r.total-=k-r.page.length}y(k=>{if(!k.has(l))return k;let C=new Set(k);return C.delete(l),C})}function me(l,k){if(!(!(r.all&&r.all.has(l)||r.page&&r.page.some(L=>L.name===l))&&!k)){if(r.busy.get(l)==="row"){r.busy.set(l,"again");return}r.busy.set(l,"row"),I(P(l)+"?recursion=1").then(L=>{let{state:F,snapshots:W,backups:Q,...ee}=L;if(ee.snapshot_count=(W||[]).length,F&&r.states.set(l,F),r.all&&r.all.set(l,ee),r.page){let he=r.page.findIndex(ze=>ze.name===l);he>=0?r.page[he]=ee:(r.page=[...r.page,ee],r.total++)}$()},()=>{}).finally(()=>{let L=r.busy.get(l)==="again";r.busy.delete(l),L&&me(l,!1)})}}let Me=l=>y(k=>{let C=new Set(k);return C.has(l)?C.delete(l):C.add(l),C}),fe=E.length>0&&E.every(l=>D.has(l.name)),We=()=>y(fe?new Set:new Set(E.map(l=>l.name))),$e=l=>{l===c?u(!o):(a(l),u(!1)),b(0)};async function Ae(l,k){x(null);let C=[],L=async W=>{try{if(l==="delete"){let Q=r.all&&r.all.get(W)||r.page?.find(ee=>ee.name===W);Q&&Q.status!=="Stopped"&&await U("PUT",P(W)+"/state",{action:"stop",force:!0,timeout:-1}),await U("DELETE",P(W))}else await U("PUT",P(W)+"/state",{action:l,timeout:30,force:!1})}catch(Q){C.push(`${W}: ${Q.message}`)}},F=[...k];await Promise.all([0,1,2,3].map(async()=>{for(;F.length;)await L(F.shift())})),d(C),l==="delete"&&y(new Set)}let K=[...D];return t`<section class="page">
    <header class="page-head">
      <h1>Instances <small data-testid="instance-count">${r.loaded?X:""}</small></h1>
      <${A} href="/ui/launch" class="button primary" data-testid="launch-link">Launch<//>
    </header>
    <div class="toolbar">
      <input type="search" placeholder="Filter: name, status:running, profile:web, config.limits.cpu=2" value=${s} aria-label="Filter instances"
        data-testid="filter" onInput=${l=>{n(l.target.value),b(0)}} />
      <div class="chips">${Ye.map(l=>t`<button class=${"chip"+(s.includes("status:"+l.toLowerCase())?" on":"")}
        onClick=${()=>{let k="status:"+l.toLowerCase();n(s.includes(k)?s.replace(k,"").trim():(s.replace(/status:\w+/g,"").trim()+" "+k).trim()),b(0)}}>${l}</button>`)}</div>
    </div>
    <div class="toolbar bulk" data-testid="bulk-bar">
      <span>${K.length?`${K.length} selected`:"Select instances for bulk actions"}</span>
      ${["start","stop","restart","delete"].map(l=>t`<button disabled=${!K.length} class=${l==="delete"?"danger":""}
        data-testid=${"bulk-"+l} onClick=${()=>x(l)}>${l[0].toUpperCase()+l.slice(1)}</button>`)}
    </div>
    ${O.length?t`<ul class="error" role="alert">${O.map(l=>t`<li>${l}</li>`)}</ul>`:null}
    <${j} error=${R} />
    ${!r.loaded&&!R?t`<p class="muted">Loading instances…</p>`:null}
    ${r.loaded?t`<table class="list instances" data-testid="instances-table">
      <thead><tr>
        <th class="sel"><input type="checkbox" aria-label="Select all on this page" checked=${fe} onChange=${We} /></th>
        ${Object.entries(Fe).filter(([l])=>l!=="last_used_at"&&l!=="created_at").map(([l,k])=>t`<th class=${"c-"+l}>
          <button class="sort" aria-sort=${c===l?o?"descending":"ascending":"none"} onClick=${()=>$e(l)}>${k}${c===l?o?" \u25BE":" \u25B4":""}</button></th>`)}
        <th class="c-ipv4">IPv4</th><th class="c-mem">Memory</th><th class="c-snap">Snapshots</th>
        <th class="c-created"><button class="sort" onClick=${()=>$e("created_at")}>Created${c==="created_at"?o?" \u25BE":" \u25B4":""}</button></th>
        <th class="c-act"></th>
      </tr></thead>
      <tbody>${E.map(l=>t`<${Qe} key=${l.name} inst=${l} state=${r.states.get(l.name)} checked=${D.has(l.name)} onToggle=${Me} />`)}</tbody>
    </table>
    ${E.length===0?t`<p class="muted" data-testid="empty">${X===0&&!s?"No instances yet.":"No instance matches the filter."}</p>`:null}
    <nav class="pager">
      <button disabled=${g===0} onClick=${()=>b(g-1)}>‹ Prev</button>
      <span>Page ${g+1} of ${ae}</span>
      <button disabled=${g+1>=ae} onClick=${()=>b(g+1)}>Next ›</button>
      <select aria-label="Rows per page" value=${i} onChange=${l=>{h(+l.target.value),b(0)}}>${Be.map(l=>t`<option value=${l}>${l} / page</option>`)}</select>
    </nav>`:null}
    ${f?t`<${Y} title=${`${f[0].toUpperCase()+f.slice(1)} ${K.length} instance${K.length>1?"s":""}?`} yes=${f[0].toUpperCase()+f.slice(1)}
        danger=${f==="delete"||f==="stop"} onNo=${()=>x(null)} onYes=${()=>Ae(f,K)}>
        <p>${f==="delete"?"Running instances are stopped first. Their snapshots and data are deleted; this cannot be undone.":""}</p>
        <ul class="names">${K.map(l=>t`<li>${l}</li>`)}</ul><//>`:null}
  </section>`}function Qe({inst:e,state:s,checked:n,onToggle:c}){let a=oe(s,"inet"),o=s?.memory?.usage,u=async i=>{try{await U("PUT",P(e.name)+"/state",{action:i,timeout:30})}catch(h){alert(h.message)}};return t`<tr data-testid=${"row-"+e.name} data-status=${e.status}>
    <td class="sel"><input type="checkbox" aria-label=${"Select "+e.name} checked=${n} onChange=${()=>c(e.name)} /></td>
    <td class="c-name"><${A} href=${"/ui/instances/"+M(e.name)}>${e.name}<//><div class="sub">${e.description||e.config?.["image.description"]||""}</div></td>
    <td class="c-status"><${re} s=${e.status} /></td>
    <td class="c-type">${e.type}</td>
    <td class="c-ipv4">${a.join(" ")}</td>
    <td class="c-mem">${e.status==="Running"&&o?N(o):""}</td>
    <td class="c-snap">${e.snapshot_count??(e.snapshots?e.snapshots.length:"")}</td>
    <td class="c-created">${(e.created_at||"").slice(0,10)}</td>
    <td class="c-act">${e.status==="Running"?t`<button class="small" onClick=${()=>u("stop")} data-testid=${"stop-"+e.name}>Stop</button>`:t`<button class="small" onClick=${()=>u("start")} data-testid=${"start-"+e.name}>Start</button>`}</td>
  </tr>`}function se(e){let s;return(s=/config key "([^"]+)"/.exec(e))?"config."+s[1]:(s=/device "([^"]+)"/.exec(e))?"devices."+s[1]:/instance name|already exists/.test(e)?"name":/storage pool/.test(e)?"pool":/profile "/.test(e)?"profiles":/network "/.test(e)?"network":/image|alias|fingerprint|simplestreams|remote server/i.test(e)?"image":""}function xe(e,s="eth0"){let n=se(e);return n==="devices.root"?"pool":n==="devices."+s?"network":n==="config.limits.cpu"||n==="config.limits.memory"?n:n.startsWith("config.")?"config":n.startsWith("devices.")?"devices":n}var Le=256*1024;function Te({name:e}){let[s,n]=p("/"),[c,a]=p(null),[o,u]=p(null),[i,h]=p(null),[g,b]=p(null),m=d=>`${P(e)}/files?path=${encodeURIComponent(d)}`,w=(d,r)=>(d.endsWith("/")?d:d+"/")+r,_=async d=>{u(null);try{let v=await(await J("GET",m(d))).json();if(v.type==="error")throw new Error(v.error);a((v.metadata||[]).sort()),n(d)}catch(r){u(r)}};T(()=>{_("/")},[e]);let R=async d=>{let r=w(s,d);u(null);try{let v=await J("GET",m(r));if(v.headers.get("X-Lxd-Type")==="directory"){let ae=await v.json();a((ae.metadata||[]).sort()),n(r);return}if(!v.ok)throw new Error((await v.json().catch(()=>({}))).error||`HTTP ${v.status}`);let E=await v.arrayBuffer(),X=E.byteLength<=Le?new TextDecoder("utf-8",{fatal:!0}).decode(E):null;h({path:r,text:X,size:E.byteLength,mode:v.headers.get("X-Lxd-Mode"),uid:v.headers.get("X-Lxd-Uid"),gid:v.headers.get("X-Lxd-Gid")})}catch(v){v instanceof TypeError?h({path:r,text:null}):u(v)}},S=async(d,r,v={})=>{let $=await J("POST",m(d),r,{"X-Lxd-Type":"file","Content-Type":"application/octet-stream",...v}),E=await $.json().catch(()=>({}));if(!$.ok||E.type==="error")throw new Error(E.error||`HTTP ${$.status}`)},D=async d=>{let r=d.target.files[0];if(r){try{await S(w(s,r.name),r,{"X-Lxd-Mode":"0644"}),_(s)}catch(v){u(v)}d.target.value=""}},y=async()=>{let d=prompt("New directory name");if(d)try{await S(w(s,d),new Blob([]),{"X-Lxd-Type":"directory","X-Lxd-Mode":"0755"}),_(s)}catch(r){u(r)}},f=async d=>{b(null);let v=await(await J("DELETE",m(d))).json().catch(()=>({}));v.type==="error"?u(new Error(v.error)):_(s)},x=async()=>{try{let d={"X-Lxd-Mode":i.mode||"0644"};i.uid&&(d["X-Lxd-Uid"]=i.uid),i.gid&&(d["X-Lxd-Gid"]=i.gid),await S(i.path,new Blob([i.text]),d),h(null),_(s)}catch(d){u(d)}},O=s==="/"?null:s.replace(/\/[^/]+\/?$/,"")||"/";return i?t`<div class="files"><h3>${i.path}</h3><${j} error=${o} />
      ${i.text!=null?t`<textarea class="yaml" rows="20" spellcheck="false" value=${i.text} onInput=${d=>h({...i,text:d.target.value})} data-testid="file-editor"></textarea>`:t`<p class="muted">Not shown: a binary file or over ${N(Le)}.</p>`}
      <div class="row-actions">${i.text!=null?t`<button class="primary" onClick=${x} data-testid="file-save">Save</button>`:null}
        <a class="button" href=${m(i.path)} download=${i.path.split("/").pop()}>Download</a><button onClick=${()=>h(null)}>Close</button></div></div>`:t`<div class="files">
    <div class="toolbar"><code data-testid="files-path">${s}</code>
      <label class="button">Upload<input type="file" class="hidden" onChange=${D} /></label><button onClick=${y}>New directory</button></div>
    <${j} error=${o} />
    <ul class="file-list" data-testid="file-list">
      ${O?t`<li><button class="link" onClick=${()=>_(O)}>..</button></li>`:null}
      ${(c||[]).map(d=>t`<li><button class="link" onClick=${()=>R(d)}>${d}</button>
        <span class="row-actions"><a class="small" href=${m(w(s,d))} download=${d}>download</a><button class="small danger" onClick=${()=>b(w(s,d))}>delete</button></span></li>`)}
    </ul>
    ${g?t`<${Y} title=${"Delete "+g+"?"} yes="Delete" danger onNo=${()=>b(null)} onYes=${()=>f(g)}><p>This cannot be undone.</p><//>`:null}
  </div>`}var Ve=[["","Overview"],["config","Configuration"],["snapshots","Snapshots"],["console","Console"],["terminal","Terminal"],["files","Files"]];function Pe({name:e}){let{query:s}=V(),n=s.get("tab")||"",[c,a]=p(null),[o,u]=p(null),[i,h]=p(null),[g,b]=p(""),m=()=>G("GET",P(e)+"?recursion=1").then(S=>{a({...S.metadata,etag:S.etag}),u(null)},u);T(()=>{m()},[e]),T(()=>z(S=>{if(S.type==="resync"){m();return}if(S.type!=="lifecycle")return;let D=/^\/1\.0\/instances\/([^/?]+)/.exec(S.metadata?.source||"");if(!(!D||decodeURIComponent(D[1])!==e||S.metadata.action==="instance-exec")){if(S.metadata.action==="instance-deleted"){te("/ui/");return}m()}}),[e]),T(()=>{if(n!==""||c?.status!=="Running")return;let S=setInterval(()=>{document.hidden||I(P(e)+"/state").then(D=>a(y=>y&&{...y,state:D}),()=>{})},5e3);return()=>clearInterval(S)},[n,c?.status,e]);let w=async(S,D)=>{b(S),u(null);try{if(S==="delete"){c.status!=="Stopped"&&await U("PUT",P(e)+"/state",{action:"stop",force:!0,timeout:-1}),await U("DELETE",P(e)),te("/ui/");return}await U("PUT",P(e)+"/state",D||{action:S,timeout:30})}catch(y){u(y)}finally{b("")}};if(!c)return t`<section class="page"><${j} error=${o} />${o?null:t`<p class="muted">Loading…</p>`}</section>`;let _=c.status==="Running",R=c.status==="Frozen";return t`<section class="page">
    <header class="page-head">
      <h1><${A} href="/ui/">Instances<//> / <span data-testid="instance-name">${e}</span> <${re} s=${c.status} /></h1>
      <div class="row-actions">
        ${!_&&!R?t`<button class="primary" disabled=${g} onClick=${()=>w("start")} data-testid="action-start">Start</button>`:null}
        ${_?t`<button disabled=${g} onClick=${()=>w("restart")}>Restart</button>`:null}
        ${_?t`<button disabled=${g} onClick=${()=>w("freeze")}>Freeze</button>`:null}
        ${R?t`<button disabled=${g} onClick=${()=>w("unfreeze")}>Unfreeze</button>`:null}
        ${_||R?t`<button disabled=${g} onClick=${()=>h("stop")} data-testid="action-stop">Stop</button>`:null}
        <button class="danger" disabled=${g} onClick=${()=>h("delete")} data-testid="action-delete">Delete</button>
      </div>
    </header>
    ${g?t`<p class="muted" role="status">${g}…</p>`:null}
    <${j} error=${o} />
    <${ge} tabs=${Ve} current=${n} base=${"/ui/instances/"+M(e)} />
    ${n===""?t`<${He} inst=${c} />`:null}
    ${n==="config"?t`<${Je} inst=${c} reload=${m} />`:null}
    ${n==="snapshots"?t`<${Ze} inst=${c} reload=${m} />`:null}
    ${n==="console"?t`<${et} name=${e} />`:null}
    ${n==="terminal"?t`<${tt} name=${e} running=${_} />`:null}
    ${n==="files"?t`<${Te} name=${e} running=${_} />`:null}
    ${i?t`<${Y} title=${i==="delete"?`Delete ${e}?`:`Stop ${e}?`} yes=${i==="delete"?"Delete":"Stop"} danger
      onNo=${()=>h(null)} onYes=${()=>{let S=i;h(null),w(S)}}>
      <p>${i==="delete"?"The instance, its snapshots and its data are deleted. This cannot be undone.":"The instance is asked to shut down (30 s, then forced)."}</p><//>`:null}
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
    <div class="card"><h3>Network</h3>${c.length?t`<dl>${c.map(([o,u])=>t`<dt>${o}</dt><dd>${(u.addresses||[]).filter(i=>i.scope==="global").map(i=>t`<div>${i.address}/${i.netmask}</div>`)}
      <div class="sub">${u.hwaddr} · rx ${N(u.counters?.bytes_received)} · tx ${N(u.counters?.bytes_sent)}</div></dd>`)}</dl>`:t`<p class="muted">${e.status==="Running"?"No interfaces":"Not running"}</p>`}
      <p class="muted">IPv4: <span data-testid="ov-ipv4">${oe(s,"inet").join(", ")}</span></p></div>
  </div>`}function Je({inst:e,reload:s}){let[n,c]=p("form"),a=()=>Object.entries(e.config||{}).filter(([d])=>!d.startsWith("volatile.")&&!d.startsWith("image.")),[o,u]=p(a),[i,h]=p((e.profiles||[]).join(", ")),[g,b]=p(""),[m,w]=p({}),[_,R]=p(!1),[S,D]=p(!1),y=ne(null);T(()=>{u(a()),h((e.profiles||[]).join(", "))},[e.etag]),T(()=>{n==="yaml"&&import("./chunk-MK2R57CU.js").then(d=>{y.current=d,b(d.dump({description:e.description||"",profiles:e.profiles||[],config:Object.fromEntries(a()),devices:e.devices||{}},{sortKeys:!0,lineWidth:-1}))})},[n,e.etag]);async function f(d){d.preventDefault(),w({}),R(!1),D(!0);let r;try{let v=Object.fromEntries(Object.entries(e.config||{}).filter(([$])=>$.startsWith("volatile.")||$.startsWith("image.")));if(n==="yaml"){let $=y.current.load(g)||{};r={description:$.description||"",profiles:$.profiles||[],config:{...v,...Object.fromEntries(Object.entries($.config||{}).map(([E,X])=>[E,String(X)]))},devices:$.devices||{}}}else r={description:e.description||"",profiles:i.split(",").map($=>$.trim()).filter(Boolean),config:{...v,...Object.fromEntries(o.filter(([$])=>$.trim()).map(([$,E])=>[$.trim(),E]))},devices:e.devices||{}};r={architecture:e.architecture,ephemeral:e.ephemeral,...r}}catch(v){w({"":"YAML: "+v.message}),D(!1);return}try{await U("PUT",P(e.name),r,e.etag?{"If-Match":e.etag}:{}),R(!0),s()}catch(v){let $=se(v.message);w({[$.startsWith("config.")||$.startsWith("devices.")||$==="profiles"?$:""]:v.message})}finally{D(!1)}}let x=(d,r,v)=>u(o.map(($,E)=>E===d?r===0?[v,$[1]]:[$[0],v]:$)),O=Object.keys(m).filter(d=>d.startsWith("config.")&&!o.some(([r])=>"config."+r===d));return t`<form class="config" onSubmit=${f} data-testid="config-form">
    <div class="row-actions">
      <button type="button" class=${n==="form"?"on":""} onClick=${()=>c("form")} data-testid="mode-form">Form</button>
      <button type="button" class=${n==="yaml"?"on":""} onClick=${()=>c("yaml")} data-testid="mode-yaml">YAML</button>
    </div>
    ${m[""]?t`<p class="error" role="alert" data-testid="form-error">${m[""]}</p>`:null}
    ${n==="form"?t`
      <label class="field">Profiles <input value=${i} onInput=${d=>h(d.target.value)} data-testid="cfg-profiles" aria-invalid=${!!m.profiles} />
        ${m.profiles?t`<span class="field-error" role="alert">${m.profiles}</span>`:null}</label>
      <table class="list kv"><thead><tr><th>Key</th><th>Value</th><th></th></tr></thead><tbody>
      ${o.map(([d,r],v)=>t`<tr data-testid=${"cfg-row-"+d}>
        <td><input value=${d} aria-label="Key" onInput=${$=>x(v,0,$.target.value)} data-testid=${"cfg-key-"+v} /></td>
        <td><input value=${r} aria-label=${"Value of "+d} aria-invalid=${!!m["config."+d]} onInput=${$=>x(v,1,$.target.value)} data-testid=${"cfg-val-"+d} />
          ${m["config."+d]?t`<span class="field-error" role="alert" data-testid=${"cfg-err-"+d}>${m["config."+d]}</span>`:null}</td>
        <td><button type="button" class="small" onClick=${()=>u(o.filter(($,E)=>E!==v))} aria-label=${"Remove "+d}>✕</button></td></tr>`)}
      </tbody></table>
      ${O.map(d=>t`<p class="field-error" role="alert">${m[d]}</p>`)}
      <button type="button" onClick=${()=>u([...o,["",""]])} data-testid="cfg-add">Add key</button>
      <h3>Devices</h3>
      <table class="list kv"><tbody>${Object.entries(e.devices||{}).map(([d,r])=>t`<tr><td>${d}</td><td>${Object.entries(r).map(([v,$])=>`${v}=${$}`).join(" ")}
        ${m["devices."+d]?t`<span class="field-error" role="alert">${m["devices."+d]}</span>`:null}</td></tr>`)}</tbody></table>
      <p class="muted">Edit devices in YAML. Profiles add: ${Object.keys(e.expanded_devices||{}).filter(d=>!(e.devices||{})[d]).join(", ")}</p>`:t`
      <textarea class="yaml" spellcheck="false" rows="20" value=${g} onInput=${d=>b(d.target.value)} data-testid="cfg-yaml" aria-label="Configuration as YAML"></textarea>
      ${Object.entries(m).filter(([d])=>d).map(([d,r])=>t`<p class="field-error" role="alert" data-testid="yaml-error"><b>${d.replace(/^config\./,"config: ").replace(/^devices\./,"devices: ")}</b> ${r}</p>`)}`}
    <div class="row-actions"><button class="primary" type="submit" disabled=${S} data-testid="cfg-save">Save</button>${_?t`<span class="ok" role="status">Saved</span>`:null}</div>
  </form>`}var _e=[["snapshots.schedule","Schedule (cron or @hourly, @daily)"],["snapshots.schedule.stopped","Also when stopped (true/false)"],["snapshots.expiry","Expiry (e.g. 2w)"],["snapshots.pattern","Name pattern (snap%d)"]];function Ze({inst:e,reload:s}){let n=e.name,c=B(()=>I(P(n)+"/snapshots?recursion=1"),[n,e.etag,(e.snapshots||[]).length]),[a,o]=p(""),[u,i]=p(null),[h,g]=p(null),[b,m]=p(()=>Object.fromEntries(_e.map(([f])=>[f,(e.config||{})[f]||""]))),[w,_]=p({}),R=async f=>{i(null);try{await f(),c.reload(),s()}catch(x){i(x)}},S=f=>{f.preventDefault(),R(()=>U("POST",P(n)+"/snapshots",{name:a,stateful:!1})).then(()=>o(""))},D=async f=>{f.preventDefault(),_({});let x={...e.config};for(let[O,d]of Object.entries(b))d?x[O]=d:delete x[O];try{await U("PUT",P(n),{architecture:e.architecture,ephemeral:e.ephemeral,description:e.description,profiles:e.profiles,devices:e.devices,config:x},e.etag?{"If-Match":e.etag}:{}),s()}catch(O){_({[se(O.message)]:O.message})}},y=c.data||[];return t`<div>
    <form class="inline" onSubmit=${S}><input placeholder="snapshot name (optional)" value=${a} onInput=${f=>o(f.target.value)} data-testid="snap-name" />
      <button class="primary" type="submit" data-testid="snap-create">Create snapshot</button></form>
    <${j} error=${u||c.error} />
    <table class="list"><thead><tr><th>Name</th><th>Created</th><th>Expires</th><th></th></tr></thead><tbody>
    ${y.map(f=>t`<tr data-testid=${"snap-"+f.name}><td>${f.name}</td><td>${H(f.created_at)}</td><td>${f.expires_at&&!f.expires_at.startsWith("0001")?new Date(f.expires_at).toLocaleString():""}</td>
      <td class="row-actions"><button class="small" onClick=${()=>g(["restore",f.name])}>Restore</button><button class="small danger" onClick=${()=>g(["delete",f.name])}>Delete</button></td></tr>`)}
    </tbody></table>
    ${!c.loading&&!y.length?t`<p class="muted">No snapshots.</p>`:null}
    <h3>Schedule</h3>
    <form onSubmit=${D}>${_e.map(([f,x])=>t`<label class="field">${x}<input value=${b[f]} onInput=${O=>m({...b,[f]:O.target.value})} aria-invalid=${!!w["config."+f]} />
      ${w["config."+f]?t`<span class="field-error" role="alert">${w["config."+f]}</span>`:null}</label>`)}
      ${w[""]?t`<p class="error">${w[""]}</p>`:null}
      <button type="submit">Save schedule</button></form>
    ${h?t`<${Y} title=${`${h[0]==="restore"?"Restore":"Delete"} snapshot ${h[1]}?`} yes=${h[0]==="restore"?"Restore":"Delete"} danger
      onNo=${()=>g(null)} onYes=${()=>{let[f,x]=h;g(null),R(()=>f==="restore"?U("PUT",P(n),{restore:x}):U("DELETE",P(n)+"/snapshots/"+M(x)))}}>
      <p>${h[0]==="restore"?`${n}'s files and config go back to ${h[1]}; changes since are lost.`:"This cannot be undone."}</p><//>`:null}
  </div>`}function et({name:e}){let[s,n]=p(null),[c,a]=p(null),o=()=>J("GET",P(e)+"/logs/console.log").then(async u=>{if(!u.ok)throw new Error((await u.json().catch(()=>({}))).error||`HTTP ${u.status}`);n(await u.text())}).catch(a);return T(()=>{o()},[e]),t`<div><div class="row-actions"><button onClick=${o}>Refresh</button></div><${j} error=${c} />
    <pre class="log" data-testid="console-log">${s??""}</pre>${s===""?t`<p class="muted">The console log is empty.</p>`:null}</div>`}function tt({name:e,running:s}){let[n,c]=p(null);return T(()=>{import("./chunk-73SZ342U.js").then(a=>c(()=>a.Terminal))},[]),s?n?t`<${n} name=${e} />`:t`<p class="muted">Loading terminal…</p>`:t`<p class="muted">Start the instance to open a terminal.</p>`}function Ie(){let[e,s]=p(null),[n,c]=p(null),[a,o]=p({source:"local",image:"",server:"",protocol:"simplestreams",alias:"",name:"",profiles:["default"],cpu:"",memory:"",network:"",pool:"",start:!0}),[u,i]=p({}),[h,g]=p(""),[b,m]=p("");T(()=>{Promise.all([I("/1.0/images?recursion=1"),I("/1.0/profiles?recursion=1"),I("/1.0/networks?recursion=1"),I("/1.0/storage-pools?recursion=1")]).then(([y,f,x,O])=>{s({images:y,profiles:f,networks:x.filter(d=>d.managed),pools:O}),y.length&&o(d=>({...d,image:d.image||y[0].fingerprint}))},c)},[]);let w=y=>f=>o({...a,[y]:f.target.type==="checkbox"?f.target.checked:f.target.value}),_=y=>o({...a,profiles:a.profiles.includes(y)?a.profiles.filter(f=>f!==y):[...a.profiles,y]});async function R(y){y.preventDefault(),i({}),m("");let f=a.source==="local"?{type:"image",fingerprint:a.image}:{type:"image",server:a.server.trim(),protocol:a.protocol,alias:a.alias.trim(),mode:"pull"},x={};a.cpu&&(x["limits.cpu"]=a.cpu),a.memory&&(x["limits.memory"]=a.memory);let O={};if(a.network&&(O.eth0={type:"nic",name:"eth0",network:a.network}),a.pool&&(O.root={type:"disk",path:"/",pool:a.pool}),!a.name.trim()){i({name:"Give the instance a name."});return}if(a.source==="local"&&!a.image){i({image:"Pick an image."});return}if(a.source==="remote"&&(!a.server||!a.alias)){i({image:"Give the remote server URL and the image alias."});return}let d=a.name.trim(),r=null,v=z($=>{if($.type==="operation"&&$.metadata?.id===r){let E=$.metadata.metadata||{};E.download_progress?m(E.download_progress):E.create_instance_from_image_unpack_progress&&m(E.create_instance_from_image_unpack_progress)}});try{g("Creating");let $=await G("POST","/1.0/instances",{name:d,source:f,profiles:a.profiles,config:x,devices:O,type:"container"});$.type==="async"&&(r=$.metadata.id,await ve($.metadata)),a.start&&(g("Starting"),await U("PUT",P(d)+"/state",{action:"start",timeout:30})),te("/ui/instances/"+M(d))}catch($){let E=xe($.message);i({[E]:$.message}),g("")}finally{v()}}if(n)return t`<section class="page"><${j} error=${n} /></section>`;if(!e)return t`<section class="page"><p class="muted">Loading…</p></section>`;let S=y=>u[y]?t`<span class="field-error" role="alert" data-testid=${"err-"+y}>${u[y]}</span>`:null,D=y=>`${(y.aliases||[]).map(f=>f.name).join(", ")||y.fingerprint.slice(0,12)}${y.properties?.description?" \u2014 "+y.properties.description:""}`;return t`<section class="page narrow">
    <header class="page-head"><h1><${A} href="/ui/">Instances<//> / Launch</h1></header>
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
      <div class="row-actions"><button class="primary" type="submit" disabled=${!!h} data-testid="launch-submit">${h?h+"\u2026":"Launch"}</button>
        ${b?t`<span class="muted" role="status" data-testid="launch-progress">${b}</span>`:null}</div>
    </form></section>`}function le(e,s){T(()=>z(n=>{(n.type==="resync"||n.type==="lifecycle"&&(n.metadata?.action||"").startsWith(e))&&s()}),[s])}function je(){let e=B(()=>I("/1.0/images?recursion=1"),[]);le("image-",e.reload);let[s,n]=p(null),[c,a]=p(null);return t`<section class="page"><header class="page-head"><h1>Images</h1></header><${j} error=${e.error||c} />
    <table class="list" data-testid="images-table"><thead><tr><th>Alias</th><th>Fingerprint</th><th>Description</th><th class="c-size">Size</th><th class="c-created">Uploaded</th><th></th></tr></thead><tbody>
    ${(e.data||[]).map(o=>t`<tr><td>${(o.aliases||[]).map(u=>u.name).join(", ")}</td><td><code>${o.fingerprint.slice(0,12)}</code></td>
      <td>${o.properties?.description||""}</td><td class="c-size">${N(o.size)}</td><td class="c-created">${H(o.uploaded_at)}</td>
      <td><button class="small danger" onClick=${()=>n(o)}>Delete</button></td></tr>`)}</tbody></table>
    ${s?t`<${Y} title=${"Delete image "+s.fingerprint.slice(0,12)+"?"} yes="Delete" danger onNo=${()=>n(null)}
      onYes=${async()=>{let o=s;n(null);try{await U("DELETE","/1.0/images/"+o.fingerprint),e.reload()}catch(u){a(u)}}}><p>Instances made from it keep working.</p><//>`:null}
  </section>`}function Oe({url:e,obj:s,fields:n,onDone:c}){let[a,o]=p(null),[u,i]=p(null),[h,g]=p(null);T(()=>{import("./chunk-MK2R57CU.js").then(m=>{g(m),o(m.dump(Object.fromEntries(n.map(w=>[w,s[w]??(w==="description"?"":{})])),{sortKeys:!0,lineWidth:-1}))})},[e]);let b=async()=>{i(null);try{let m=h.load(a)||{};await U("PUT",e,m),c()}catch(m){let w=se(m.message);i(w?`${w.replace(".",": ")} \u2014 ${m.message}`:m.message)}};return a==null?t`<p class="muted">Loading…</p>`:t`<div class="yaml-edit"><textarea class="yaml" rows="14" spellcheck="false" value=${a} onInput=${m=>o(m.target.value)}></textarea>
    ${u?t`<p class="field-error" role="alert">${u}</p>`:null}<div class="row-actions"><button class="primary" onClick=${b}>Save</button><button onClick=${c}>Cancel</button></div></div>`}function Ue(){let e=B(()=>I("/1.0/profiles?recursion=1"),[]);le("profile-",e.reload);let[s,n]=p(""),[c,a]=p(""),[o,u]=p(null),[i,h]=p(null),g=async b=>{b.preventDefault(),u(null);try{await U("POST","/1.0/profiles",{name:c,config:{},devices:{}}),a(""),e.reload()}catch(m){u(m)}};return t`<section class="page"><header class="page-head"><h1>Profiles</h1></header><${j} error=${e.error||o} />
    <form class="inline" onSubmit=${g}><input placeholder="new profile name" value=${c} onInput=${b=>a(b.target.value)} /><button type="submit">Create</button></form>
    ${(e.data||[]).map(b=>t`<div class="card wide"><h3>${b.name} <small>${b.description}</small></h3>
      ${s===b.name?t`<${Oe} url=${"/1.0/profiles/"+M(b.name)} obj=${b} fields=${["description","config","devices"]} onDone=${()=>{n(""),e.reload()}} />`:t`
      <dl>${Object.entries(b.config||{}).map(([m,w])=>t`<dt>${m}</dt><dd>${w}</dd>`)}${Object.entries(b.devices||{}).map(([m,w])=>t`<dt>device ${m}</dt><dd>${Object.entries(w).map(([_,R])=>`${_}=${R}`).join(" ")}</dd>`)}</dl>
      <p class="muted">Used by ${(b.used_by||[]).length}</p>
      <div class="row-actions"><button class="small" onClick=${()=>n(b.name)}>Edit</button>${b.name!=="default"?t`<button class="small danger" onClick=${()=>h(b.name)}>Delete</button>`:null}</div>`}</div>`)}
    ${i?t`<${Y} title=${"Delete profile "+i+"?"} yes="Delete" danger onNo=${()=>h(null)} onYes=${async()=>{let b=i;h(null);try{await U("DELETE","/1.0/profiles/"+M(b)),e.reload()}catch(m){u(m)}}} />`:null}
  </section>`}function De(){let e=B(()=>I("/1.0/networks?recursion=1"),[]);le("network-",e.reload);let[s,n]=p(""),[c,a]=p("");return t`<section class="page"><header class="page-head"><h1>Networks</h1></header><${j} error=${e.error} />
    <table class="list"><thead><tr><th>Name</th><th>Type</th><th>IPv4</th><th class="c-ipv6">IPv6</th><th>Used by</th><th></th></tr></thead><tbody>
    ${(e.data||[]).filter(o=>o.managed).map(o=>t`<tr><td>${o.name}</td><td>${o.type}</td><td>${o.config?.["ipv4.address"]||""}</td><td class="c-ipv6">${o.config?.["ipv6.address"]||""}</td>
      <td>${(o.used_by||[]).length}</td><td class="row-actions"><button class="small" onClick=${()=>n(s===o.name?"":o.name)}>Leases</button><button class="small" onClick=${()=>a(o.name)}>Edit</button></td></tr>
      ${s===o.name?t`<tr><td colspan="6"><${st} name=${o.name} /></td></tr>`:null}
      ${c===o.name?t`<tr><td colspan="6"><${Oe} url=${"/1.0/networks/"+M(o.name)} obj=${o} fields=${["description","config"]} onDone=${()=>{a(""),e.reload()}} /></td></tr>`:null}`)}
    </tbody></table></section>`}function st({name:e}){let s=B(()=>I("/1.0/networks/"+M(e)+"/leases"),[e]);return t`<${j} error=${s.error} /><table class="list inner" data-testid="leases"><thead><tr><th>Host</th><th>Address</th><th>MAC</th><th>Type</th></tr></thead><tbody>
    ${(s.data||[]).map(n=>t`<tr><td>${n.hostname}</td><td>${n.address}</td><td>${n.hwaddr}</td><td>${n.type}</td></tr>`)}</tbody></table>
    ${s.data&&!s.data.length?t`<p class="muted">No leases.</p>`:null}`}function Re(){let e=B(()=>I("/1.0/storage-pools?recursion=1"),[]);le("storage-",e.reload);let[s,n]=p("");return t`<section class="page"><header class="page-head"><h1>Storage</h1></header><${j} error=${e.error} />
    <table class="list"><thead><tr><th>Pool</th><th>Driver</th><th>Source</th><th>Status</th><th></th></tr></thead><tbody>
    ${(e.data||[]).map(c=>t`<tr><td>${c.name}</td><td>${c.driver}</td><td><code>${c.config?.source||""}</code></td><td>${c.status}</td>
      <td><button class="small" onClick=${()=>n(s===c.name?"":c.name)}>Volumes</button></td></tr>
      ${s===c.name?t`<tr><td colspan="5"><${at} pool=${c.name} /></td></tr>`:null}`)}
    </tbody></table></section>`}function at({pool:e}){let s=B(()=>I("/1.0/storage-pools/"+M(e)+"/volumes?recursion=1"),[e]),c=B(()=>I("/1.0/storage-pools/"+M(e)+"/resources"),[e]).data?.space;return t`${c?t`<p class="muted">Used ${N(c.used)} of ${N(c.total)}</p>`:null}<${j} error=${s.error} />
    <table class="list inner"><thead><tr><th>Type</th><th>Name</th><th>Used by</th></tr></thead><tbody>
    ${(s.data||[]).map(a=>t`<tr><td>${a.type}</td><td>${a.name}</td><td>${(a.used_by||[]).join(", ")}</td></tr>`)}</tbody></table>`}function Ne(){let[e,s]=p(null),[n,c]=p(null),a=()=>I("/1.0/operations?recursion=1").then(i=>{let h=[...i.running||[],...i.success||[],...i.failure||[]];s(new Map(h.map(g=>[g.id,g])))},c);T(()=>{a()},[]),T(()=>z(i=>{if(i.type==="resync"){a();return}i.type==="operation"&&s(h=>new Map(h||[]).set(i.metadata.id,i.metadata))}),[]);let o=async i=>{try{await G("DELETE","/1.0/operations/"+i.id)}catch(h){c(h)}},u=[...e?.values()||[]].sort((i,h)=>i.created_at<h.created_at?1:-1);return t`<section class="page"><header class="page-head"><h1>Operations</h1></header><${j} error=${n} />
    <table class="list" data-testid="operations-table"><thead><tr><th>Description</th><th>Status</th><th>Resources</th><th class="c-created">Started</th><th></th></tr></thead><tbody>
    ${u.map(i=>t`<tr><td>${i.description}${i.metadata?.download_progress?t`<div class="sub">${i.metadata.download_progress}</div>`:null}${i.err?t`<div class="sub error">${i.err}</div>`:null}</td>
      <td>${i.status}</td><td>${Object.values(i.resources||{}).flat().filter((h,g,b)=>b.indexOf(h)===g).map(h=>h.replace(/^\/1\.0\//,"")).join(", ")}</td>
      <td class="c-created">${H(i.created_at)}</td><td>${i.may_cancel&&i.status_code<200?t`<button class="small danger" onClick=${()=>o(i)}>Cancel</button>`:null}</td></tr>`)}
    </tbody></table>${e&&!u.length?t`<p class="muted">No recent operations.</p>`:null}</section>`}var nt=[["/ui/","Instances"],["/ui/images","Images"],["/ui/profiles","Profiles"],["/ui/networks","Networks"],["/ui/storage","Storage"],["/ui/operations","Operations"]];function ot(){let{path:e}=V(),s;return e==="/ui/"||e==="/ui"?t`<${Ee} />`:e==="/ui/launch"?t`<${Ie} />`:(s=/^\/ui\/instances\/([^/]+)$/.exec(e))?t`<${Pe} name=${decodeURIComponent(s[1])} key=${s[1]} />`:e==="/ui/images"?t`<${je} />`:e==="/ui/profiles"?t`<${Ue} />`:e==="/ui/networks"?t`<${De} />`:e==="/ui/storage"?t`<${Re} />`:e==="/ui/operations"?t`<${Ne} />`:t`<section class="page"><h1>Not found</h1><p><${A} href="/ui/">Back to the instances<//></p></section>`}function rt({auth:e}){let{path:s}=V(),[n,c]=p(0);T(()=>z(o=>{o.type==="operation"&&c(u=>Math.max(0,u+(o.metadata.status_code===103&&o.metadata.created_at===o.metadata.updated_at?1:o.metadata.status_code>=200?-1:0)))}),[]);let a=o=>o==="/ui/"?s==="/ui/"||s.startsWith("/ui/instances")||s==="/ui/launch":s.startsWith(o);return t`<header class="top">
      <${A} href="/ui/" class="brand">lodge<//>
      <nav class="main-nav">${nt.map(([o,u])=>t`<${A} href=${o} class=${a(o)?"on":""}>${u}${u==="Operations"&&n>0?t` <span class="badge">${n}</span>`:null}<//>`)}</nav>
      <span class="who">${q.server?.environment?.server_name||""}${e.auth==="session"?t` <button class="small" onClick=${ye} data-testid="logout">Log out</button>`:null}</span>
    </header>
    <main><${ot} /></main>`}async function lt(){let e=document.getElementById("app");new URLSearchParams(location.search).has("login")&&history.replaceState(null,"",location.pathname);try{let[s,n]=await Promise.all([be(),I("/1.0")]);we(n),ie(t`<${rt} auth=${s} />`,e)}catch(s){ie(t`<section class="page"><${j} error=${s} /></section>`,e)}}lt();
