import{a as ce,b as p,c as T,d as ne,e as t,f as te,g as H,h as z,i as N,j as J,k as oe,l as B,m as j,n as Y,o as re,p as ye,q as ve,r as we,s as Z,t as q,u as I,v as ke,w as U,x as M,y as P}from"./chunk-WUJX3SZW.js";var G={instancesQuery:!1,extensions:[],server:null};function Se(e){G.server=e,G.extensions=e.api_extensions||[],G.instancesQuery=G.extensions.includes("lodge_instances_query")}var de=new Set,ee=null,ue=0,Ce=!1;function A(e){return de.add(e),pe(),()=>de.delete(e)}function Ee(e){for(let s of[...de])try{s(e)}catch(n){console.error(n)}}function pe(){if(ee)return;let e=location.protocol==="https:"?"wss:":"ws:";ee=new WebSocket(`${e}//${location.host}/1.0/events?type=operation,lifecycle`),ee.onopen=()=>{ue=0,Ce&&Ee({type:"resync"}),Ce=!0,document.body.dataset.events="open"},ee.onmessage=s=>{try{Ee(JSON.parse(s.data))}catch{}},ee.onclose=()=>{ee=null,document.body.dataset.events="closed";let s=Math.min(3e4,250*2**ue++);setTimeout(pe,s)}}document.addEventListener("visibilitychange",()=>{!document.hidden&&!ee&&(ue=0,pe())});function le(e){let s=[],n=[];for(let c of e.trim().split(/\s+/).filter(Boolean)){let a=/^([a-z_][\w.-]*)[:=](.+)$/i.exec(c);a?n.push([a[1].toLowerCase()==="status"?"status":a[1],a[2]]):s.push(c.toLowerCase())}return{words:s,exact:n}}var Xe=(e,s)=>s.startsWith("config.")?(e.expanded_config||e.config||{})[s.slice(7)]??"":s==="profile"||s==="profiles"?(e.profiles||[]).join(","):e[s]??"";function me(e,{words:s,exact:n}){for(let c of s)if(!e.name.toLowerCase().includes(c)&&!(e.description||"").toLowerCase().includes(c))return!1;for(let[c,a]of n){let r=String(Xe(e,c));if(c==="profile"||c==="profiles"?!r.split(",").includes(a):r.toLowerCase()!==a.toLowerCase())return!1}return!0}function xe(e,s){return(n,c)=>{let a=String(n[e]??""),r=String(c[e]??""),u=a<r?-1:a>r?1:n.name<c.name?-1:n.name>c.name?1:0;return s?-u:u}}function Le({q:e,sort:s,desc:n,size:c,page:a}){let{words:r,exact:u}=le(e),l=new URLSearchParams({recursion:"2"}),g=u.map(([m,f])=>`${m==="profile"?"profiles":m} eq ${m==="status"?f[0].toUpperCase()+f.slice(1).toLowerCase():f}`);return g.length&&l.set("filter",g.join(" and ")),r.length&&l.set("search",r.join(" ")),l.set("sort",(n?"-":"")+s),l.set("limit",String(c)),l.set("offset",String(a*c)),l.toString()}var qe={name:"Name",status:"Status",type:"Type",created_at:"Created",last_used_at:"Last used"},Ge=[50,100,250],Qe=["Running","Stopped","Frozen","Error"];function Te(){let{query:e}=H(),[s,n]=p(e.get("q")||""),[c,a]=p(e.get("sort")||"name"),[r,u]=p(e.get("desc")==="1"),[l,g]=p(+e.get("size")||50),[m,f]=p(+e.get("page")||0),[,$]=p(0),[w,_]=p(0),[R,S]=p(null),[D,y]=p(new Set),[h,x]=p(null),[O,d]=p([]),o=ne({all:null,page:null,total:0,states:new Map,busy:new Map,loaded:!1}).current,v=G.instancesQuery;o.q=s;let b=()=>$(i=>i+1);T(()=>{let i=new URLSearchParams;s&&i.set("q",s),c!=="name"&&i.set("sort",c),r&&i.set("desc","1"),l!==50&&i.set("size",l),m&&i.set("page",m);let k=i.toString();history.replaceState(null,"",location.pathname+(k?"?"+k:""))},[s,c,r,l,m]),T(()=>{let i=!0;return v?q("GET","/1.0/instances?"+Le({q:s,sort:c,desc:r,size:l,page:m})).then(k=>{if(i){o.page=k.metadata,o.total=+(k.headers.get("X-Lodge-Total-Count")||k.metadata.length);for(let C of k.metadata)C.state&&o.states.set(C.name,C.state);o.loaded=!0,b()}},k=>i&&S(k)):o.all||I("/1.0/instances?recursion=1").then(k=>{i&&(o.all=new Map(k.map(C=>[C.name,C])),o.loaded=!0,b())},k=>i&&S(k)),()=>{i=!1}},v?[s,c,r,l,m,w]:[w]);let E=[],X=0;if(v&&o.page)E=o.page,X=o.total;else if(o.all){let i=le(s),k=[...o.all.values()].filter(C=>me(C,i)).sort(xe(c,r));X=k.length,E=k.slice(m*l,m*l+l)}let ae=Math.max(1,Math.ceil(X/l));T(()=>{if(v||!o.loaded)return;let i=E.filter(L=>L.status==="Running"&&!o.states.has(L.name)&&!o.busy.has(L.name)).map(L=>L.name),k=0,C=()=>{let L=i[k++];L&&(o.busy.set(L,"state"),I(P(L)+"/state").then(F=>{o.states.set(L,F),b()},()=>{}).finally(()=>{o.busy.delete(L),C()}))};for(let L=0;L<4;L++)C()}),T(()=>{o.loaded&&!document.body.dataset.tableReady&&(performance.mark("table-ready"),document.body.dataset.tableReady="1")}),T(()=>A(i=>{if(i.type==="resync"){o.all=null,o.page=null,o.states.clear(),_(K=>K+1);return}if(i.type!=="lifecycle")return;let k=i.metadata?.source||"",C=i.metadata?.action||"",L=/^\/1\.0\/instances\/([^/?]+)/.exec(k);if(!L||C==="instance-exec"||C.startsWith("instance-console")||C.startsWith("instance-log"))return;let F=decodeURIComponent(L[1]),W=i.metadata?.context?.old_name;if(W&&fe(W),C==="instance-deleted"){fe(F),b();return}$e(F,C==="instance-created")}),[]);function fe(i){if(o.states.delete(i),o.all&&o.all.delete(i),o.page){let k=o.page.length;o.page=o.page.filter(C=>C.name!==i),o.total-=k-o.page.length}y(k=>{if(!k.has(i))return k;let C=new Set(k);return C.delete(i),C})}function $e(i,k){if(!(!(o.all&&o.all.has(i)||o.page&&o.page.some(L=>L.name===i))&&!k&&!v)){if(o.busy.get(i)==="row"){o.busy.set(i,"again");return}o.busy.set(i,"row"),I(P(i)+"?recursion=1").then(L=>{let{state:F,snapshots:W,backups:K,...V}=L;if(V.snapshot_count=(W||[]).length,F&&o.states.set(i,F),o.all&&o.all.set(i,V),o.page){let be=o.page.findIndex(Ye=>Ye.name===i);be>=0?o.page[be]=V:me(V,le(o.q))&&(o.page=[...o.page,V],o.total++)}b()},()=>{}).finally(()=>{let L=o.busy.get(i)==="again";o.busy.delete(i),L&&$e(i,!1)})}}let Ae=i=>y(k=>{let C=new Set(k);return C.has(i)?C.delete(i):C.add(i),C}),he=E.length>0&&E.every(i=>D.has(i.name)),Fe=()=>y(he?new Set:new Set(E.map(i=>i.name))),ge=i=>{i===c?u(!r):(a(i),u(!1)),f(0)};async function Be(i,k){x(null);let C=[],L=async W=>{try{if(i==="delete"){let K=o.all&&o.all.get(W)||o.page?.find(V=>V.name===W);K&&K.status!=="Stopped"&&await U("PUT",P(W)+"/state",{action:"stop",force:!0,timeout:-1}),await U("DELETE",P(W))}else await U("PUT",P(W)+"/state",{action:i,timeout:30,force:!1})}catch(K){C.push(`${W}: ${K.message}`)}},F=[...k];await Promise.all([0,1,2,3].map(async()=>{for(;F.length;)await L(F.shift())})),d(C),i==="delete"&&y(new Set)}let Q=[...D];return t`<section class="page">
    <header class="page-head">
      <h1>Instances <small data-testid="instance-count">${o.loaded?X:""}</small></h1>
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
    ${!o.loaded&&!R?t`<p class="muted">Loading instances…</p>`:null}
    ${o.loaded?t`<table class="list instances" data-testid="instances-table">
      <thead><tr>
        <th class="sel"><input type="checkbox" aria-label="Select all on this page" checked=${he} onChange=${Fe} /></th>
        ${Object.entries(qe).filter(([i])=>i!=="last_used_at"&&i!=="created_at").map(([i,k])=>t`<th class=${"c-"+i}>
          <button class="sort" aria-sort=${c===i?r?"descending":"ascending":"none"} onClick=${()=>ge(i)}>${k}${c===i?r?" \u25BE":" \u25B4":""}</button></th>`)}
        <th class="c-ipv4">IPv4</th><th class="c-mem">Memory</th><th class="c-snap">Snapshots</th>
        <th class="c-created"><button class="sort" onClick=${()=>ge("created_at")}>Created${c==="created_at"?r?" \u25BE":" \u25B4":""}</button></th>
        <th class="c-act"></th>
      </tr></thead>
      <tbody>${E.map(i=>t`<${Ke} key=${i.name} inst=${i} state=${o.states.get(i.name)} checked=${D.has(i.name)} onToggle=${Ae} />`)}</tbody>
    </table>
    ${E.length===0?t`<p class="muted" data-testid="empty">${X===0&&!s?"No instances yet.":"No instance matches the filter."}</p>`:null}
    <nav class="pager">
      <button disabled=${m===0} onClick=${()=>f(m-1)}>‹ Prev</button>
      <span>Page ${m+1} of ${ae}</span>
      <button disabled=${m+1>=ae} onClick=${()=>f(m+1)}>Next ›</button>
      <select aria-label="Rows per page" value=${l} onChange=${i=>{g(+i.target.value),f(0)}}>${Ge.map(i=>t`<option value=${i}>${i} / page</option>`)}</select>
    </nav>`:null}
    ${h?t`<${Y} title=${`${h[0].toUpperCase()+h.slice(1)} ${Q.length} instance${Q.length>1?"s":""}?`} yes=${h[0].toUpperCase()+h.slice(1)}
        danger=${h==="delete"||h==="stop"} onNo=${()=>x(null)} onYes=${()=>Be(h,Q)}>
        <p>${h==="delete"?"Running instances are stopped first. Their snapshots and data are deleted; this cannot be undone.":""}</p>
        <ul class="names">${Q.map(i=>t`<li>${i}</li>`)}</ul><//>`:null}
  </section>`}function Ke({inst:e,state:s,checked:n,onToggle:c}){let a=oe(s,"inet"),r=s?.memory?.usage,u=async l=>{try{await U("PUT",P(e.name)+"/state",{action:l,timeout:30})}catch(g){alert(g.message)}};return t`<tr data-testid=${"row-"+e.name} data-status=${e.status}>
    <td class="sel"><input type="checkbox" aria-label=${"Select "+e.name} checked=${n} onChange=${()=>c(e.name)} /></td>
    <td class="c-name"><${z} href=${"/ui/instances/"+M(e.name)}>${e.name}<//><div class="sub">${e.description||e.config?.["image.description"]||""}</div></td>
    <td class="c-status"><${re} s=${e.status} /></td>
    <td class="c-type">${e.type}</td>
    <td class="c-ipv4">${a.join(" ")}</td>
    <td class="c-mem">${e.status==="Running"&&r?N(r):""}</td>
    <td class="c-snap">${e.snapshot_count??(e.snapshots?e.snapshots.length:"")}</td>
    <td class="c-created">${(e.created_at||"").slice(0,10)}</td>
    <td class="c-act">${e.status==="Running"?t`<button class="small" onClick=${()=>u("stop")} data-testid=${"stop-"+e.name}>Stop</button>`:t`<button class="small" onClick=${()=>u("start")} data-testid=${"start-"+e.name}>Start</button>`}</td>
  </tr>`}function se(e){let s;return(s=/config key "([^"]+)"/.exec(e))?"config."+s[1]:(s=/device "([^"]+)"/.exec(e))?"devices."+s[1]:/instance name|already exists/.test(e)?"name":/storage pool/.test(e)?"pool":/profile "/.test(e)?"profiles":/network "/.test(e)?"network":/image|alias|fingerprint|simplestreams|remote server/i.test(e)?"image":""}function _e(e,s="eth0"){let n=se(e);return n==="devices.root"?"pool":n==="devices."+s?"network":n==="config.limits.cpu"||n==="config.limits.memory"?n:n.startsWith("config.")?"config":n.startsWith("devices.")?"devices":n}var Pe=256*1024;function Ie({name:e}){let[s,n]=p("/"),[c,a]=p(null),[r,u]=p(null),[l,g]=p(null),[m,f]=p(null),$=d=>`${P(e)}/files?path=${encodeURIComponent(d)}`,w=(d,o)=>(d.endsWith("/")?d:d+"/")+o,_=async d=>{u(null);try{let v=await(await Z("GET",$(d))).json();if(v.type==="error")throw new Error(v.error);a((v.metadata||[]).sort()),n(d)}catch(o){u(o)}};T(()=>{_("/")},[e]);let R=async d=>{let o=w(s,d);u(null);try{let v=await Z("GET",$(o));if(v.headers.get("X-Lxd-Type")==="directory"){let ae=await v.json();a((ae.metadata||[]).sort()),n(o);return}if(!v.ok)throw new Error((await v.json().catch(()=>({}))).error||`HTTP ${v.status}`);let E=await v.arrayBuffer(),X=E.byteLength<=Pe?new TextDecoder("utf-8",{fatal:!0}).decode(E):null;g({path:o,text:X,size:E.byteLength,mode:v.headers.get("X-Lxd-Mode"),uid:v.headers.get("X-Lxd-Uid"),gid:v.headers.get("X-Lxd-Gid")})}catch(v){v instanceof TypeError?g({path:o,text:null}):u(v)}},S=async(d,o,v={})=>{let b=await Z("POST",$(d),o,{"X-Lxd-Type":"file","Content-Type":"application/octet-stream",...v}),E=await b.json().catch(()=>({}));if(!b.ok||E.type==="error")throw new Error(E.error||`HTTP ${b.status}`)},D=async d=>{let o=d.target.files[0];if(o){try{await S(w(s,o.name),o,{"X-Lxd-Mode":"0644"}),_(s)}catch(v){u(v)}d.target.value=""}},y=async()=>{let d=prompt("New directory name");if(d)try{await S(w(s,d),new Blob([]),{"X-Lxd-Type":"directory","X-Lxd-Mode":"0755"}),_(s)}catch(o){u(o)}},h=async d=>{f(null);let v=await(await Z("DELETE",$(d))).json().catch(()=>({}));v.type==="error"?u(new Error(v.error)):_(s)},x=async()=>{try{let d={"X-Lxd-Mode":l.mode||"0644"};l.uid&&(d["X-Lxd-Uid"]=l.uid),l.gid&&(d["X-Lxd-Gid"]=l.gid),await S(l.path,new Blob([l.text]),d),g(null),_(s)}catch(d){u(d)}},O=s==="/"?null:s.replace(/\/[^/]+\/?$/,"")||"/";return l?t`<div class="files"><h3>${l.path}</h3><${j} error=${r} />
      ${l.text!=null?t`<textarea class="yaml" rows="20" spellcheck="false" value=${l.text} onInput=${d=>g({...l,text:d.target.value})} data-testid="file-editor"></textarea>`:t`<p class="muted">Not shown: a binary file or over ${N(Pe)}.</p>`}
      <div class="row-actions">${l.text!=null?t`<button class="primary" onClick=${x} data-testid="file-save">Save</button>`:null}
        <a class="button" href=${$(l.path)} download=${l.path.split("/").pop()}>Download</a><button onClick=${()=>g(null)}>Close</button></div></div>`:t`<div class="files">
    <div class="toolbar"><code data-testid="files-path">${s}</code>
      <label class="button">Upload<input type="file" class="hidden" onChange=${D} /></label><button onClick=${y}>New directory</button></div>
    <${j} error=${r} />
    <ul class="file-list" data-testid="file-list">
      ${O?t`<li><button class="link" onClick=${()=>_(O)}>..</button></li>`:null}
      ${(c||[]).map(d=>t`<li><button class="link" onClick=${()=>R(d)}>${d}</button>
        <span class="row-actions"><a class="small" href=${$(w(s,d))} download=${d}>download</a><button class="small danger" onClick=${()=>f(w(s,d))}>delete</button></span></li>`)}
    </ul>
    ${m?t`<${Y} title=${"Delete "+m+"?"} yes="Delete" danger onNo=${()=>f(null)} onYes=${()=>h(m)}><p>This cannot be undone.</p><//>`:null}
  </div>`}var Ve=[["","Overview"],["config","Configuration"],["snapshots","Snapshots"],["console","Console"],["terminal","Terminal"],["files","Files"]];function Oe({name:e}){let{query:s}=H(),n=s.get("tab")||"",[c,a]=p(null),[r,u]=p(null),[l,g]=p(null),[m,f]=p(""),$=()=>q("GET",P(e)+"?recursion=1").then(S=>{a({...S.metadata,etag:S.etag}),u(null)},u);T(()=>{$()},[e]),T(()=>A(S=>{if(S.type==="resync"){$();return}if(S.type!=="lifecycle")return;let D=/^\/1\.0\/instances\/([^/?]+)/.exec(S.metadata?.source||"");if(!(!D||decodeURIComponent(D[1])!==e||S.metadata.action==="instance-exec")){if(S.metadata.action==="instance-deleted"){te("/ui/");return}$()}}),[e]),T(()=>{if(n!==""||c?.status!=="Running")return;let S=setInterval(()=>{document.hidden||I(P(e)+"/state").then(D=>a(y=>y&&{...y,state:D}),()=>{})},5e3);return()=>clearInterval(S)},[n,c?.status,e]);let w=async(S,D)=>{f(S),u(null);try{if(S==="delete"){c.status!=="Stopped"&&await U("PUT",P(e)+"/state",{action:"stop",force:!0,timeout:-1}),await U("DELETE",P(e)),te("/ui/");return}await U("PUT",P(e)+"/state",D||{action:S,timeout:30})}catch(y){u(y)}finally{f("")}};if(!c)return t`<section class="page"><${j} error=${r} />${r?null:t`<p class="muted">Loading…</p>`}</section>`;let _=c.status==="Running",R=c.status==="Frozen";return t`<section class="page">
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
    <${j} error=${r} />
    <${ye} tabs=${Ve} current=${n} base=${"/ui/instances/"+M(e)} />
    ${n===""?t`<${He} inst=${c} />`:null}
    ${n==="config"?t`<${Je} inst=${c} reload=${$} />`:null}
    ${n==="snapshots"?t`<${Ze} inst=${c} reload=${$} />`:null}
    ${n==="console"?t`<${et} name=${e} />`:null}
    ${n==="terminal"?t`<${tt} name=${e} running=${_} />`:null}
    ${n==="files"?t`<${Ie} name=${e} running=${_} />`:null}
    ${l?t`<${Y} title=${l==="delete"?`Delete ${e}?`:`Stop ${e}?`} yes=${l==="delete"?"Delete":"Stop"} danger
      onNo=${()=>g(null)} onYes=${()=>{let S=l;g(null),w(S)}}>
      <p>${l==="delete"?"The instance, its snapshots and its data are deleted. This cannot be undone.":"The instance is asked to shut down (30 s, then forced)."}</p><//>`:null}
  </section>`}function He({inst:e}){let s=e.state||{},n=e.expanded_config||e.config||{},c=Object.entries(s.network||{}).filter(([r])=>r!=="lo"),a=Object.entries(s.disk||{});return t`<div class="cards">
    <div class="card"><h3>State</h3><dl>
      <dt>Status</dt><dd data-testid="ov-status">${e.status}</dd>
      <dt>PID</dt><dd>${s.pid||""}</dd><dt>Processes</dt><dd>${s.processes>0?s.processes:""}</dd>
      <dt>Image</dt><dd>${n["image.description"]||""}</dd>
      <dt>Profiles</dt><dd>${(e.profiles||[]).join(", ")}</dd>
      <dt>Created</dt><dd>${J(e.created_at)}</dd><dt>Last used</dt><dd>${J(e.last_used_at)}</dd>
    </dl></div>
    <div class="card"><h3>Usage</h3><dl>
      <dt>Memory</dt><dd>${N(s.memory?.usage)}${s.memory?.usage_peak?` (peak ${N(s.memory.usage_peak)})`:""}${n["limits.memory"]?` of ${n["limits.memory"]}`:""}</dd>
      <dt>CPU time</dt><dd>${s.cpu?.usage?(s.cpu.usage/1e9).toFixed(1)+" s":""}${n["limits.cpu"]?` (limit ${n["limits.cpu"]} CPUs)`:""}</dd>
      ${a.map(([r,u])=>t`<dt>Disk ${r}</dt><dd>${N(u.usage)}</dd>`)}
    </dl></div>
    <div class="card"><h3>Network</h3>${c.length?t`<dl>${c.map(([r,u])=>t`<dt>${r}</dt><dd>${(u.addresses||[]).filter(l=>l.scope==="global").map(l=>t`<div>${l.address}/${l.netmask}</div>`)}
      <div class="sub">${u.hwaddr} · rx ${N(u.counters?.bytes_received)} · tx ${N(u.counters?.bytes_sent)}</div></dd>`)}</dl>`:t`<p class="muted">${e.status==="Running"?"No interfaces":"Not running"}</p>`}
      <p class="muted">IPv4: <span data-testid="ov-ipv4">${oe(s,"inet").join(", ")}</span></p></div>
  </div>`}function Je({inst:e,reload:s}){let[n,c]=p("form"),a=()=>Object.entries(e.config||{}).filter(([d])=>!d.startsWith("volatile.")&&!d.startsWith("image.")),[r,u]=p(a),[l,g]=p((e.profiles||[]).join(", ")),[m,f]=p(""),[$,w]=p({}),[_,R]=p(!1),[S,D]=p(!1),y=ne(null);T(()=>{u(a()),g((e.profiles||[]).join(", "))},[e.etag]),T(()=>{n==="yaml"&&import("./chunk-MK2R57CU.js").then(d=>{y.current=d,f(d.dump({description:e.description||"",profiles:e.profiles||[],config:Object.fromEntries(a()),devices:e.devices||{}},{sortKeys:!0,lineWidth:-1}))})},[n,e.etag]);async function h(d){d.preventDefault(),w({}),R(!1),D(!0);let o;try{let v=Object.fromEntries(Object.entries(e.config||{}).filter(([b])=>b.startsWith("volatile.")||b.startsWith("image.")));if(n==="yaml"){let b=y.current.load(m)||{};o={description:b.description||"",profiles:b.profiles||[],config:{...v,...Object.fromEntries(Object.entries(b.config||{}).map(([E,X])=>[E,String(X)]))},devices:b.devices||{}}}else o={description:e.description||"",profiles:l.split(",").map(b=>b.trim()).filter(Boolean),config:{...v,...Object.fromEntries(r.filter(([b])=>b.trim()).map(([b,E])=>[b.trim(),E]))},devices:e.devices||{}};o={architecture:e.architecture,ephemeral:e.ephemeral,...o}}catch(v){w({"":"YAML: "+v.message}),D(!1);return}try{await U("PUT",P(e.name),o,e.etag?{"If-Match":e.etag}:{}),R(!0),s()}catch(v){let b=se(v.message);w({[b.startsWith("config.")||b.startsWith("devices.")||b==="profiles"?b:""]:v.message})}finally{D(!1)}}let x=(d,o,v)=>u(r.map((b,E)=>E===d?o===0?[v,b[1]]:[b[0],v]:b)),O=Object.keys($).filter(d=>d.startsWith("config.")&&!r.some(([o])=>"config."+o===d));return t`<form class="config" onSubmit=${h} data-testid="config-form">
    <div class="row-actions">
      <button type="button" class=${n==="form"?"on":""} onClick=${()=>c("form")} data-testid="mode-form">Form</button>
      <button type="button" class=${n==="yaml"?"on":""} onClick=${()=>c("yaml")} data-testid="mode-yaml">YAML</button>
    </div>
    ${$[""]?t`<p class="error" role="alert" data-testid="form-error">${$[""]}</p>`:null}
    ${n==="form"?t`
      <label class="field">Profiles <input value=${l} onInput=${d=>g(d.target.value)} data-testid="cfg-profiles" aria-invalid=${!!$.profiles} />
        ${$.profiles?t`<span class="field-error" role="alert">${$.profiles}</span>`:null}</label>
      <table class="list kv"><thead><tr><th>Key</th><th>Value</th><th></th></tr></thead><tbody>
      ${r.map(([d,o],v)=>t`<tr data-testid=${"cfg-row-"+d}>
        <td><input value=${d} aria-label="Key" onInput=${b=>x(v,0,b.target.value)} data-testid=${"cfg-key-"+v} /></td>
        <td><input value=${o} aria-label=${"Value of "+d} aria-invalid=${!!$["config."+d]} onInput=${b=>x(v,1,b.target.value)} data-testid=${"cfg-val-"+d} />
          ${$["config."+d]?t`<span class="field-error" role="alert" data-testid=${"cfg-err-"+d}>${$["config."+d]}</span>`:null}</td>
        <td><button type="button" class="small" onClick=${()=>u(r.filter((b,E)=>E!==v))} aria-label=${"Remove "+d}>✕</button></td></tr>`)}
      </tbody></table>
      ${O.map(d=>t`<p class="field-error" role="alert">${$[d]}</p>`)}
      <button type="button" onClick=${()=>u([...r,["",""]])} data-testid="cfg-add">Add key</button>
      <h3>Devices</h3>
      <table class="list kv"><tbody>${Object.entries(e.devices||{}).map(([d,o])=>t`<tr><td>${d}</td><td>${Object.entries(o).map(([v,b])=>`${v}=${b}`).join(" ")}
        ${$["devices."+d]?t`<span class="field-error" role="alert">${$["devices."+d]}</span>`:null}</td></tr>`)}</tbody></table>
      <p class="muted">Edit devices in YAML. Profiles add: ${Object.keys(e.expanded_devices||{}).filter(d=>!(e.devices||{})[d]).join(", ")}</p>`:t`
      <textarea class="yaml" spellcheck="false" rows="20" value=${m} onInput=${d=>f(d.target.value)} data-testid="cfg-yaml" aria-label="Configuration as YAML"></textarea>
      ${Object.entries($).filter(([d])=>d).map(([d,o])=>t`<p class="field-error" role="alert" data-testid="yaml-error"><b>${d.replace(/^config\./,"config: ").replace(/^devices\./,"devices: ")}</b> ${o}</p>`)}`}
    <div class="row-actions"><button class="primary" type="submit" disabled=${S} data-testid="cfg-save">Save</button>${_?t`<span class="ok" role="status">Saved</span>`:null}</div>
  </form>`}var je=[["snapshots.schedule","Schedule (cron or @hourly, @daily)"],["snapshots.schedule.stopped","Also when stopped (true/false)"],["snapshots.expiry","Expiry (e.g. 2w)"],["snapshots.pattern","Name pattern (snap%d)"]];function Ze({inst:e,reload:s}){let n=e.name,c=B(()=>I(P(n)+"/snapshots?recursion=1"),[n,e.etag,(e.snapshots||[]).length]),[a,r]=p(""),[u,l]=p(null),[g,m]=p(null),[f,$]=p(()=>Object.fromEntries(je.map(([h])=>[h,(e.config||{})[h]||""]))),[w,_]=p({}),R=async h=>{l(null);try{await h(),c.reload(),s()}catch(x){l(x)}},S=h=>{h.preventDefault(),R(()=>U("POST",P(n)+"/snapshots",{name:a,stateful:!1})).then(()=>r(""))},D=async h=>{h.preventDefault(),_({});let x={...e.config};for(let[O,d]of Object.entries(f))d?x[O]=d:delete x[O];try{await U("PUT",P(n),{architecture:e.architecture,ephemeral:e.ephemeral,description:e.description,profiles:e.profiles,devices:e.devices,config:x},e.etag?{"If-Match":e.etag}:{}),s()}catch(O){_({[se(O.message)]:O.message})}},y=c.data||[];return t`<div>
    <form class="inline" onSubmit=${S}><input placeholder="snapshot name (optional)" value=${a} onInput=${h=>r(h.target.value)} data-testid="snap-name" />
      <button class="primary" type="submit" data-testid="snap-create">Create snapshot</button></form>
    <${j} error=${u||c.error} />
    <table class="list"><thead><tr><th>Name</th><th>Created</th><th>Expires</th><th></th></tr></thead><tbody>
    ${y.map(h=>t`<tr data-testid=${"snap-"+h.name}><td>${h.name}</td><td>${J(h.created_at)}</td><td>${h.expires_at&&!h.expires_at.startsWith("0001")?new Date(h.expires_at).toLocaleString():""}</td>
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
  </div>`}function et({name:e}){let[s,n]=p(null),[c,a]=p(null),r=()=>Z("GET",P(e)+"/logs/console.log").then(async u=>{if(!u.ok)throw new Error((await u.json().catch(()=>({}))).error||`HTTP ${u.status}`);n(await u.text())}).catch(a);return T(()=>{r()},[e]),t`<div><div class="row-actions"><button onClick=${r}>Refresh</button></div><${j} error=${c} />
    <pre class="log" data-testid="console-log">${s??""}</pre>${s===""?t`<p class="muted">The console log is empty.</p>`:null}</div>`}function tt({name:e,running:s}){let[n,c]=p(null);return T(()=>{import("./chunk-Z2ET63EC.js").then(a=>c(()=>a.Terminal))},[]),s?n?t`<${n} name=${e} />`:t`<p class="muted">Loading terminal…</p>`:t`<p class="muted">Start the instance to open a terminal.</p>`}function Ue(){let[e,s]=p(null),[n,c]=p(null),[a,r]=p({source:"local",image:"",server:"",protocol:"simplestreams",alias:"",name:"",profiles:["default"],cpu:"",memory:"",network:"",pool:"",start:!0}),[u,l]=p({}),[g,m]=p(""),[f,$]=p("");T(()=>{Promise.all([I("/1.0/images?recursion=1"),I("/1.0/profiles?recursion=1"),I("/1.0/networks?recursion=1"),I("/1.0/storage-pools?recursion=1")]).then(([y,h,x,O])=>{s({images:y,profiles:h,networks:x.filter(d=>d.managed),pools:O}),y.length&&r(d=>({...d,image:d.image||y[0].fingerprint}))},c)},[]);let w=y=>h=>r({...a,[y]:h.target.type==="checkbox"?h.target.checked:h.target.value}),_=y=>r({...a,profiles:a.profiles.includes(y)?a.profiles.filter(h=>h!==y):[...a.profiles,y]});async function R(y){y.preventDefault(),l({}),$("");let h=a.source==="local"?{type:"image",fingerprint:a.image}:{type:"image",server:a.server.trim(),protocol:a.protocol,alias:a.alias.trim(),mode:"pull"},x={};a.cpu&&(x["limits.cpu"]=a.cpu),a.memory&&(x["limits.memory"]=a.memory);let O={};if(a.network&&(O.eth0={type:"nic",name:"eth0",network:a.network}),a.pool&&(O.root={type:"disk",path:"/",pool:a.pool}),!a.name.trim()){l({name:"Give the instance a name."});return}if(a.source==="local"&&!a.image){l({image:"Pick an image."});return}if(a.source==="remote"&&(!a.server||!a.alias)){l({image:"Give the remote server URL and the image alias."});return}let d=a.name.trim(),o=null,v=A(b=>{if(b.type==="operation"&&b.metadata?.id===o){let E=b.metadata.metadata||{};E.download_progress?$(E.download_progress):E.create_instance_from_image_unpack_progress&&$(E.create_instance_from_image_unpack_progress)}});try{m("Creating");let b=await q("POST","/1.0/instances",{name:d,source:h,profiles:a.profiles,config:x,devices:O,type:"container"});b.type==="async"&&(o=b.metadata.id,await ke(b.metadata)),a.start&&(m("Starting"),await U("PUT",P(d)+"/state",{action:"start",timeout:30})),te("/ui/instances/"+M(d))}catch(b){let E=_e(b.message);l({[E]:b.message}),m("")}finally{v()}}if(n)return t`<section class="page"><${j} error=${n} /></section>`;if(!e)return t`<section class="page"><p class="muted">Loading…</p></section>`;let S=y=>u[y]?t`<span class="field-error" role="alert" data-testid=${"err-"+y}>${u[y]}</span>`:null,D=y=>`${(y.aliases||[]).map(h=>h.name).join(", ")||y.fingerprint.slice(0,12)}${y.properties?.description?" \u2014 "+y.properties.description:""}`;return t`<section class="page narrow">
    <header class="page-head"><h1><${z} href="/ui/">Instances<//> / Launch</h1></header>
    <form onSubmit=${R} data-testid="launch-form" novalidate>
      ${u[""]?t`<p class="error" role="alert" data-testid="err-form">${u[""]}</p>`:null}
      <fieldset><legend>Image</legend>
        <label class="inline"><input type="radio" name="src" checked=${a.source==="local"} onChange=${()=>r({...a,source:"local"})} /> Local</label>
        <label class="inline"><input type="radio" name="src" checked=${a.source==="remote"} onChange=${()=>r({...a,source:"remote"})} data-testid="src-remote" /> From a remote server</label>
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
    </form></section>`}function ie(e,s){T(()=>A(n=>{(n.type==="resync"||n.type==="lifecycle"&&(n.metadata?.action||"").startsWith(e))&&s()}),[s])}function De(){let e=B(()=>I("/1.0/images?recursion=1"),[]);ie("image-",e.reload);let[s,n]=p(null),[c,a]=p(null);return t`<section class="page"><header class="page-head"><h1>Images</h1></header><${j} error=${e.error||c} />
    <table class="list" data-testid="images-table"><thead><tr><th>Alias</th><th>Fingerprint</th><th>Description</th><th class="c-size">Size</th><th class="c-created">Uploaded</th><th></th></tr></thead><tbody>
    ${(e.data||[]).map(r=>t`<tr><td>${(r.aliases||[]).map(u=>u.name).join(", ")}</td><td><code>${r.fingerprint.slice(0,12)}</code></td>
      <td>${r.properties?.description||""}</td><td class="c-size">${N(r.size)}</td><td class="c-created">${J(r.uploaded_at)}</td>
      <td><button class="small danger" onClick=${()=>n(r)}>Delete</button></td></tr>`)}</tbody></table>
    ${s?t`<${Y} title=${"Delete image "+s.fingerprint.slice(0,12)+"?"} yes="Delete" danger onNo=${()=>n(null)}
      onYes=${async()=>{let r=s;n(null);try{await U("DELETE","/1.0/images/"+r.fingerprint),e.reload()}catch(u){a(u)}}}><p>Instances made from it keep working.</p><//>`:null}
  </section>`}function Re({url:e,obj:s,fields:n,onDone:c}){let[a,r]=p(null),[u,l]=p(null),[g,m]=p(null);T(()=>{import("./chunk-MK2R57CU.js").then($=>{m($),r($.dump(Object.fromEntries(n.map(w=>[w,s[w]??(w==="description"?"":{})])),{sortKeys:!0,lineWidth:-1}))})},[e]);let f=async()=>{l(null);try{let $=g.load(a)||{};await U("PUT",e,$),c()}catch($){let w=se($.message);l(w?`${w.replace(".",": ")} \u2014 ${$.message}`:$.message)}};return a==null?t`<p class="muted">Loading…</p>`:t`<div class="yaml-edit"><textarea class="yaml" rows="14" spellcheck="false" value=${a} onInput=${$=>r($.target.value)}></textarea>
    ${u?t`<p class="field-error" role="alert">${u}</p>`:null}<div class="row-actions"><button class="primary" onClick=${f}>Save</button><button onClick=${c}>Cancel</button></div></div>`}function Ne(){let e=B(()=>I("/1.0/profiles?recursion=1"),[]);ie("profile-",e.reload);let[s,n]=p(""),[c,a]=p(""),[r,u]=p(null),[l,g]=p(null),m=async f=>{f.preventDefault(),u(null);try{await U("POST","/1.0/profiles",{name:c,config:{},devices:{}}),a(""),e.reload()}catch($){u($)}};return t`<section class="page"><header class="page-head"><h1>Profiles</h1></header><${j} error=${e.error||r} />
    <form class="inline" onSubmit=${m}><input placeholder="new profile name" value=${c} onInput=${f=>a(f.target.value)} /><button type="submit">Create</button></form>
    ${(e.data||[]).map(f=>t`<div class="card wide"><h3>${f.name} <small>${f.description}</small></h3>
      ${s===f.name?t`<${Re} url=${"/1.0/profiles/"+M(f.name)} obj=${f} fields=${["description","config","devices"]} onDone=${()=>{n(""),e.reload()}} />`:t`
      <dl>${Object.entries(f.config||{}).map(([$,w])=>t`<dt>${$}</dt><dd>${w}</dd>`)}${Object.entries(f.devices||{}).map(([$,w])=>t`<dt>device ${$}</dt><dd>${Object.entries(w).map(([_,R])=>`${_}=${R}`).join(" ")}</dd>`)}</dl>
      <p class="muted">Used by ${(f.used_by||[]).length}</p>
      <div class="row-actions"><button class="small" onClick=${()=>n(f.name)}>Edit</button>${f.name!=="default"?t`<button class="small danger" onClick=${()=>g(f.name)}>Delete</button>`:null}</div>`}</div>`)}
    ${l?t`<${Y} title=${"Delete profile "+l+"?"} yes="Delete" danger onNo=${()=>g(null)} onYes=${async()=>{let f=l;g(null);try{await U("DELETE","/1.0/profiles/"+M(f)),e.reload()}catch($){u($)}}} />`:null}
  </section>`}function Me(){let e=B(()=>I("/1.0/networks?recursion=1"),[]);ie("network-",e.reload);let[s,n]=p(""),[c,a]=p("");return t`<section class="page"><header class="page-head"><h1>Networks</h1></header><${j} error=${e.error} />
    <table class="list"><thead><tr><th>Name</th><th>Type</th><th>IPv4</th><th class="c-ipv6">IPv6</th><th>Used by</th><th></th></tr></thead><tbody>
    ${(e.data||[]).filter(r=>r.managed).map(r=>t`<tr><td>${r.name}</td><td>${r.type}</td><td>${r.config?.["ipv4.address"]||""}</td><td class="c-ipv6">${r.config?.["ipv6.address"]||""}</td>
      <td>${(r.used_by||[]).length}</td><td class="row-actions"><button class="small" onClick=${()=>n(s===r.name?"":r.name)}>Leases</button><button class="small" onClick=${()=>a(r.name)}>Edit</button></td></tr>
      ${s===r.name?t`<tr><td colspan="6"><${st} name=${r.name} /></td></tr>`:null}
      ${c===r.name?t`<tr><td colspan="6"><${Re} url=${"/1.0/networks/"+M(r.name)} obj=${r} fields=${["description","config"]} onDone=${()=>{a(""),e.reload()}} /></td></tr>`:null}`)}
    </tbody></table></section>`}function st({name:e}){let s=B(()=>I("/1.0/networks/"+M(e)+"/leases"),[e]);return t`<${j} error=${s.error} /><table class="list inner" data-testid="leases"><thead><tr><th>Host</th><th>Address</th><th>MAC</th><th>Type</th></tr></thead><tbody>
    ${(s.data||[]).map(n=>t`<tr><td>${n.hostname}</td><td>${n.address}</td><td>${n.hwaddr}</td><td>${n.type}</td></tr>`)}</tbody></table>
    ${s.data&&!s.data.length?t`<p class="muted">No leases.</p>`:null}`}function We(){let e=B(()=>I("/1.0/storage-pools?recursion=1"),[]);ie("storage-",e.reload);let[s,n]=p("");return t`<section class="page"><header class="page-head"><h1>Storage</h1></header><${j} error=${e.error} />
    <table class="list"><thead><tr><th>Pool</th><th>Driver</th><th>Source</th><th>Status</th><th></th></tr></thead><tbody>
    ${(e.data||[]).map(c=>t`<tr><td>${c.name}</td><td>${c.driver}</td><td><code>${c.config?.source||""}</code></td><td>${c.status}</td>
      <td><button class="small" onClick=${()=>n(s===c.name?"":c.name)}>Volumes</button></td></tr>
      ${s===c.name?t`<tr><td colspan="5"><${at} pool=${c.name} /></td></tr>`:null}`)}
    </tbody></table></section>`}function at({pool:e}){let s=B(()=>I("/1.0/storage-pools/"+M(e)+"/volumes?recursion=1"),[e]),c=B(()=>I("/1.0/storage-pools/"+M(e)+"/resources"),[e]).data?.space;return t`${c?t`<p class="muted">Used ${N(c.used)} of ${N(c.total)}</p>`:null}<${j} error=${s.error} />
    <table class="list inner"><thead><tr><th>Type</th><th>Name</th><th>Used by</th></tr></thead><tbody>
    ${(s.data||[]).map(a=>t`<tr><td>${a.type}</td><td>${a.name}</td><td>${(a.used_by||[]).join(", ")}</td></tr>`)}</tbody></table>`}function ze(){let[e,s]=p(null),[n,c]=p(null),a=()=>I("/1.0/operations?recursion=1").then(l=>{let g=[...l.running||[],...l.success||[],...l.failure||[]];s(new Map(g.map(m=>[m.id,m])))},c);T(()=>{a()},[]),T(()=>A(l=>{if(l.type==="resync"){a();return}l.type==="operation"&&s(g=>new Map(g||[]).set(l.metadata.id,l.metadata))}),[]);let r=async l=>{try{await q("DELETE","/1.0/operations/"+l.id)}catch(g){c(g)}},u=[...e?.values()||[]].sort((l,g)=>l.created_at<g.created_at?1:-1);return t`<section class="page"><header class="page-head"><h1>Operations</h1></header><${j} error=${n} />
    <table class="list" data-testid="operations-table"><thead><tr><th>Description</th><th>Status</th><th>Resources</th><th class="c-created">Started</th><th></th></tr></thead><tbody>
    ${u.map(l=>t`<tr><td>${l.description}${l.metadata?.download_progress?t`<div class="sub">${l.metadata.download_progress}</div>`:null}${l.err?t`<div class="sub error">${l.err}</div>`:null}</td>
      <td>${l.status}</td><td>${Object.values(l.resources||{}).flat().filter((g,m,f)=>f.indexOf(g)===m).map(g=>g.replace(/^\/1\.0\//,"")).join(", ")}</td>
      <td class="c-created">${J(l.created_at)}</td><td>${l.may_cancel&&l.status_code<200?t`<button class="small danger" onClick=${()=>r(l)}>Cancel</button>`:null}</td></tr>`)}
    </tbody></table>${e&&!u.length?t`<p class="muted">No recent operations.</p>`:null}</section>`}var nt=[["/ui/","Instances"],["/ui/images","Images"],["/ui/profiles","Profiles"],["/ui/networks","Networks"],["/ui/storage","Storage"],["/ui/operations","Operations"]];function ot(){let{path:e}=H(),s;return e==="/ui/"||e==="/ui"?t`<${Te} />`:e==="/ui/launch"?t`<${Ue} />`:(s=/^\/ui\/instances\/([^/]+)$/.exec(e))?t`<${Oe} name=${decodeURIComponent(s[1])} key=${s[1]} />`:e==="/ui/images"?t`<${De} />`:e==="/ui/profiles"?t`<${Ne} />`:e==="/ui/networks"?t`<${Me} />`:e==="/ui/storage"?t`<${We} />`:e==="/ui/operations"?t`<${ze} />`:t`<section class="page"><h1>Not found</h1><p><${z} href="/ui/">Back to the instances<//></p></section>`}function rt({auth:e}){let{path:s}=H(),[n,c]=p(()=>new Set);T(()=>A(r=>{if(r.type!=="operation")return;let u=r.metadata;c(l=>{let g=l.has(u.id),m=u.status_code<200;if(g===m)return l;let f=new Set(l);return m?f.add(u.id):f.delete(u.id),f})}),[]);let a=r=>r==="/ui/"?s==="/ui/"||s.startsWith("/ui/instances")||s==="/ui/launch":s.startsWith(r);return t`<header class="top">
      <${z} href="/ui/" class="brand">lodge<//>
      <nav class="main-nav">${nt.map(([r,u])=>t`<${z} href=${r} class=${a(r)?"on":""}>${u}${u==="Operations"&&n.size>0?t` <span class="badge">${n.size}</span>`:null}<//>`)}</nav>
      <span class="who">${G.server?.environment?.server_name||""}${e.auth==="session"?t` <button class="small" onClick=${we} data-testid="logout">Log out</button>`:null}</span>
    </header>
    <main><${ot} /></main>`}async function lt(){let e=document.getElementById("app");new URLSearchParams(location.search).has("login")&&history.replaceState(null,"",location.pathname);try{let[s,n]=await Promise.all([ve(),I("/1.0")]);Se(n),e.textContent="",ce(t`<${rt} auth=${s} />`,e)}catch(s){e.textContent="",ce(t`<section class="page"><${j} error=${s} /></section>`,e)}}lt();
