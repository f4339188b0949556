import{a as ce,b as p,c as _,d as ne,e as t,f as ae,g as H,h as A,i as M,j as J,k as oe,l as Y,m as O,n as X,o as re,p as ye,q as ve,r as we,s as Z,t as q,u as j,v as Se,w as D,x as W,y as I}from"./chunk-WUJX3SZW.js";var G={instancesQuery:!1,extensions:[],server:null};function ke(e){G.server=e,G.extensions=e.api_extensions||[],G.instancesQuery=G.extensions.includes("lodge_instances_query")}var de=new Set,ee=null,ue=0,Ce=!1;function F(e){return de.add(e),pe(),()=>de.delete(e)}function Ee(e){for(let a of[...de])try{a(e)}catch(o){console.error(o)}}function pe(){if(ee)return;let e=location.protocol==="https:"?"wss:":"ws:";ee=new WebSocket(`${e}//${location.host}/1.0/events?type=operation,lifecycle`),ee.onopen=()=>{ue=0,Ce&&Ee({type:"resync"}),Ce=!0,document.body.dataset.events="open"},ee.onmessage=a=>{try{Ee(JSON.parse(a.data))}catch{}},ee.onclose=()=>{ee=null,document.body.dataset.events="closed";let a=Math.min(3e4,250*2**ue++);setTimeout(pe,a)}}document.addEventListener("visibilitychange",()=>{!document.hidden&&!ee&&(ue=0,pe())});function le(e){let a=[],o=[];for(let d of e.trim().split(/\s+/).filter(Boolean)){let n=/^([a-z_][\w.-]*)[:=](.+)$/i.exec(d);n?o.push([n[1].toLowerCase()==="status"?"status":n[1],n[2]]):a.push(d.toLowerCase())}return{words:a,exact:o}}var Xe=(e,a)=>a.startsWith("config.")?(e.expanded_config||e.config||{})[a.slice(7)]??"":a==="profile"||a==="profiles"?(e.profiles||[]).join(","):e[a]??"";function me(e,{words:a,exact:o}){for(let d of a)if(!e.name.toLowerCase().includes(d)&&!(e.description||"").toLowerCase().includes(d))return!1;for(let[d,n]of o){let r=String(Xe(e,d));if(d==="profile"||d==="profiles"?!r.split(",").includes(n):r.toLowerCase()!==n.toLowerCase())return!1}return!0}function xe(e,a){return(o,d)=>{let n=String(o[e]??""),r=String(d[e]??""),u=n<r?-1:n>r?1:o.name<d.name?-1:o.name>d.name?1:0;return a?-u:u}}function Le({q:e,sort:a,desc:o,size:d,page:n}){let{words:r,exact:u}=le(e),l=new URLSearchParams({recursion:"2"}),g=u.map(([$,m])=>`${$==="profile"?"profiles":$} eq ${$==="status"?m[0].toUpperCase()+m.slice(1).toLowerCase():m}`);return g.length&&l.set("filter",g.join(" and ")),r.length&&l.set("search",r.join(" ")),l.set("sort",(o?"-":"")+a),l.set("limit",String(d)),l.set("offset",String(n*d)),l.toString()}var qe={name:"Name",status:"Status",type:"Type",created_at:"Created",last_used_at:"Last used"},Ge=[50,100,250],Qe=["Running","Stopped","Frozen","Error"];function Te(){let{query:e}=H(),[a,o]=p(e.get("q")||""),[d,n]=p(e.get("sort")||"name"),[r,u]=p(e.get("desc")==="1"),[l,g]=p(+e.get("size")||50),[$,m]=p(+e.get("page")||0),[,h]=p(0),[y,P]=p(0),[R,S]=p(null),[U,b]=p(new Set),[x,N]=p(null),[v,i]=p([]),s=ne({all:null,page:null,total:0,states:new Map,busy:new Map,loaded:!1}).current,f=G.instancesQuery;s.q=a;let w=()=>h(c=>c+1);_(()=>{let c=new URLSearchParams;a&&c.set("q",a),d!=="name"&&c.set("sort",d),r&&c.set("desc","1"),l!==50&&c.set("size",l),$&&c.set("page",$);let k=c.toString();history.replaceState(null,"",location.pathname+(k?"?"+k:""))},[a,d,r,l,$]),_(()=>{let c=!0;return f?q("GET","/1.0/instances?"+Le({q:a,sort:d,desc:r,size:l,page:$})).then(k=>{if(c){s.page=k.metadata,s.total=+(k.headers.get("X-Lodge-Total-Count")||k.metadata.length);for(let C of k.metadata)C.state&&s.states.set(C.name,C.state);s.loaded=!0,w()}},k=>c&&S(k)):s.all||j("/1.0/instances?recursion=1").then(k=>{c&&(s.all=new Map(k.map(C=>[C.name,C])),s.loaded=!0,w())},k=>c&&S(k)),()=>{c=!1}},f?[a,d,r,l,$,y]:[y]);let L=[],E=0;if(f&&s.page)L=s.page,E=s.total;else if(s.all){let c=le(a),k=[...s.all.values()].filter(C=>me(C,c)).sort(xe(d,r));E=k.length,L=k.slice($*l,$*l+l)}let te=Math.max(1,Math.ceil(E/l));_(()=>{if(f||!s.loaded)return;let c=L.filter(T=>T.status==="Running"&&!s.states.has(T.name)&&!s.busy.has(T.name)).map(T=>T.name),k=0,C=()=>{let T=c[k++];T&&(s.busy.set(T,"state"),j(I(T)+"/state").then(B=>{s.states.set(T,B),w()},()=>{}).finally(()=>{s.busy.delete(T),C()}))};for(let T=0;T<4;T++)C()}),_(()=>{s.loaded&&!document.body.dataset.tableReady&&(performance.mark("table-ready"),document.body.dataset.tableReady="1")}),_(()=>F(c=>{if(c.type==="resync"){s.all=null,s.page=null,s.states.clear(),P(K=>K+1);return}if(c.type!=="lifecycle")return;let k=c.metadata?.source||"",C=c.metadata?.action||"",T=/^\/1\.0\/instances\/([^/?]+)/.exec(k);if(!T||C==="instance-exec"||C.startsWith("instance-console")||C.startsWith("instance-log"))return;let B=decodeURIComponent(T[1]),z=c.metadata?.context?.old_name;if(z&&fe(z),C==="instance-deleted"){fe(B),w();return}$e(B,C==="instance-created")}),[]);function fe(c){if(s.states.delete(c),s.all&&s.all.delete(c),s.page){let k=s.page.length;s.page=s.page.filter(C=>C.name!==c),s.total-=k-s.page.length}b(k=>{if(!k.has(c))return k;let C=new Set(k);return C.delete(c),C})}function $e(c,k){if(!(!(s.all&&s.all.has(c)||s.page&&s.page.some(T=>T.name===c))&&!k&&!f)){if(s.busy.get(c)==="row"){s.busy.set(c,"again");return}s.busy.set(c,"row"),j(I(c)+"?recursion=1").then(T=>{let{state:B,snapshots:z,backups:K,...V}=T;if(V.snapshot_count=(z||[]).length,B&&s.states.set(c,B),s.all&&s.all.set(c,V),s.page){let be=s.page.findIndex(Ye=>Ye.name===c);be>=0?s.page[be]=V:me(V,le(s.q))&&(s.page=[...s.page,V],s.total++)}w()},()=>{}).finally(()=>{let T=s.busy.get(c)==="again";s.busy.delete(c),T&&$e(c,!1)})}}let Ae=c=>b(k=>{let C=new Set(k);return C.has(c)?C.delete(c):C.add(c),C}),he=L.length>0&&L.every(c=>U.has(c.name)),Fe=()=>b(he?new Set:new Set(L.map(c=>c.name))),ge=c=>{c===d?u(!r):(n(c),u(!1)),m(0)};async function Be(c,k){N(null);let C=[],T=async z=>{try{if(c==="delete"){let K=s.all&&s.all.get(z)||s.page?.find(V=>V.name===z);K&&K.status!=="Stopped"&&await D("PUT",I(z)+"/state",{action:"stop",force:!0,timeout:-1}),await D("DELETE",I(z))}else await D("PUT",I(z)+"/state",{action:c,timeout:30,force:!1})}catch(K){C.push(`${z}: ${K.message}`)}},B=[...k];await Promise.all([0,1,2,3].map(async()=>{for(;B.length;)await T(B.shift())})),i(C),c==="delete"&&b(new Set)}let Q=[...U];return t`<section class="page">
    <header class="page-head">
      <h1>Instances <small data-testid="instance-count">${s.loaded?E:""}</small></h1>
      <${A} href="/ui/launch" class="button primary" data-testid="launch-link">Launch<//>
    </header>
    <div class="toolbar">
      <input type="search" placeholder="Filter: name, status:running, profile:web, config.limits.cpu=2" value=${a} aria-label="Filter instances"
        data-testid="filter" onInput=${c=>{o(c.target.value),m(0)}} />
      <div class="chips">${Qe.map(c=>t`<button class=${"chip"+(a.includes("status:"+c.toLowerCase())?" on":"")}
        onClick=${()=>{let k="status:"+c.toLowerCase();o(a.includes(k)?a.replace(k,"").trim():(a.replace(/status:\w+/g,"").trim()+" "+k).trim()),m(0)}}>${c}</button>`)}</div>
    </div>
    <div class="toolbar bulk" data-testid="bulk-bar">
      <span>${Q.length?`${Q.length} selected`:"Select instances for bulk actions"}</span>
      ${["start","stop","restart","delete"].map(c=>t`<button disabled=${!Q.length} class=${c==="delete"?"danger":""}
        data-testid=${"bulk-"+c} onClick=${()=>N(c)}>${c[0].toUpperCase()+c.slice(1)}</button>`)}
    </div>
    ${v.length?t`<ul class="error" role="alert">${v.map(c=>t`<li>${c}</li>`)}</ul>`:null}
    <${O} error=${R} />
    ${!s.loaded&&!R?t`<p class="muted">Loading instances…</p>`:null}
    ${s.loaded?t`<table class="list instances" data-testid="instances-table">
      <thead><tr>
        <th class="sel"><input type="checkbox" aria-label="Select all on this page" checked=${he} onChange=${Fe} /></th>
        ${Object.entries(qe).filter(([c])=>c!=="last_used_at"&&c!=="created_at").map(([c,k])=>t`<th class=${"c-"+c}>
          <button class="sort" aria-sort=${d===c?r?"descending":"ascending":"none"} onClick=${()=>ge(c)}>${k}${d===c?r?" \u25BE":" \u25B4":""}</button></th>`)}
        <th class="c-ipv4">IPv4</th><th class="c-mem">Memory</th><th class="c-snap">Snapshots</th>
        <th class="c-created"><button class="sort" onClick=${()=>ge("created_at")}>Created${d==="created_at"?r?" \u25BE":" \u25B4":""}</button></th>
        <th class="c-act"></th>
      </tr></thead>
      <tbody>${L.map(c=>t`<${Ke} key=${c.name} inst=${c} state=${s.states.get(c.name)} checked=${U.has(c.name)} onToggle=${Ae} />`)}</tbody>
    </table>
    ${L.length===0?t`<p class="muted" data-testid="empty">${E===0&&!a?"No instances yet.":"No instance matches the filter."}</p>`:null}
    <nav class="pager">
      <button disabled=${$===0} onClick=${()=>m($-1)}>‹ Prev</button>
      <span>Page ${$+1} of ${te}</span>
      <button disabled=${$+1>=te} onClick=${()=>m($+1)}>Next ›</button>
      <select aria-label="Rows per page" value=${l} onChange=${c=>{g(+c.target.value),m(0)}}>${Ge.map(c=>t`<option value=${c}>${c} / page</option>`)}</select>
    </nav>`:null}
    ${x?t`<${X} title=${`${x[0].toUpperCase()+x.slice(1)} ${Q.length} instance${Q.length>1?"s":""}?`} yes=${x[0].toUpperCase()+x.slice(1)}
        danger=${x==="delete"||x==="stop"} onNo=${()=>N(null)} onYes=${()=>Be(x,Q)}>
        <p>${x==="delete"?"Running instances are stopped first. Their snapshots and data are deleted; this cannot be undone.":""}</p>
        <ul class="names">${Q.map(c=>t`<li>${c}</li>`)}</ul><//>`:null}
  </section>`}function Ke({inst:e,state:a,checked:o,onToggle:d}){let n=oe(a,"inet"),r=a?.memory?.usage,u=async l=>{try{await D("PUT",I(e.name)+"/state",{action:l,timeout:30})}catch(g){alert(g.message)}};return t`<tr data-testid=${"row-"+e.name} data-status=${e.status}>
    <td class="sel"><input type="checkbox" aria-label=${"Select "+e.name} checked=${o} onChange=${()=>d(e.name)} /></td>
    <td class="c-name"><${A} href=${"/ui/instances/"+W(e.name)}>${e.name}<//><div class="sub">${e.description||e.config?.["image.description"]||""}</div></td>
    <td class="c-status"><${re} s=${e.status} /></td>
    <td class="c-type">${e.type}</td>
    <td class="c-ipv4">${n.join(" ")}</td>
    <td class="c-mem">${e.status==="Running"&&r?M(r):""}</td>
    <td class="c-snap">${e.snapshot_count??(e.snapshots?e.snapshots.length:"")}</td>
    <td class="c-created">${(e.created_at||"").slice(0,10)}</td>
    <td class="c-act">${e.status==="Running"?t`<button class="small" onClick=${()=>u("stop")} data-testid=${"stop-"+e.name}>Stop</button>`:t`<button class="small" onClick=${()=>u("start")} data-testid=${"start-"+e.name}>Start</button>`}</td>
  </tr>`}function se(e){let a;return(a=/config key "([^"]+)"/.exec(e))?"config."+a[1]:(a=/device "([^"]+)"/.exec(e))?"devices."+a[1]:/instance name|already exists/.test(e)?"name":/storage pool/.test(e)?"pool":/profile "/.test(e)?"profiles":/network "/.test(e)?"network":/image|alias|fingerprint|simplestreams|remote server/i.test(e)?"image":""}function _e(e,a="eth0"){let o=se(e);return o==="devices.root"?"pool":o==="devices."+a?"network":o==="config.limits.cpu"||o==="config.limits.memory"?o:o.startsWith("config.")?"config":o.startsWith("devices.")?"devices":o}var Pe=256*1024;function Ie({name:e}){let[a,o]=p("/"),[d,n]=p(null),[r,u]=p(null),[l,g]=p(null),[$,m]=p(null),h=i=>`${I(e)}/files?path=${encodeURIComponent(i)}`,y=(i,s)=>(i.endsWith("/")?i:i+"/")+s,P=async i=>{u(null);try{let f=await(await Z("GET",h(i))).json();if(f.type==="error")throw new Error(f.error);n((f.metadata||[]).sort()),o(i)}catch(s){u(s)}};_(()=>{P("/")},[e]);let R=async i=>{let s=y(a,i);u(null);try{let f=await Z("GET",h(s));if(f.headers.get("X-Lxd-Type")==="directory"){let te=await f.json();n((te.metadata||[]).sort()),o(s);return}if(!f.ok)throw new Error((await f.json().catch(()=>({}))).error||`HTTP ${f.status}`);let L=await f.arrayBuffer(),E=L.byteLength<=Pe?new TextDecoder("utf-8",{fatal:!0}).decode(L):null;g({path:s,text:E,size:L.byteLength,mode:f.headers.get("X-Lxd-Mode"),uid:f.headers.get("X-Lxd-Uid"),gid:f.headers.get("X-Lxd-Gid")})}catch(f){f instanceof TypeError?g({path:s,text:null}):u(f)}},S=async(i,s,f={})=>{let w=await Z("POST",h(i),s,{"X-Lxd-Type":"file","Content-Type":"application/octet-stream",...f}),L=await w.json().catch(()=>({}));if(!w.ok||L.type==="error")throw new Error(L.error||`HTTP ${w.status}`)},U=async i=>{let s=i.target.files[0];if(s){try{await S(y(a,s.name),s,{"X-Lxd-Mode":"0644"}),P(a)}catch(f){u(f)}i.target.value=""}},b=async()=>{let i=prompt("New directory name");if(i)try{await S(y(a,i),new Blob([]),{"X-Lxd-Type":"directory","X-Lxd-Mode":"0755"}),P(a)}catch(s){u(s)}},x=async i=>{m(null);let f=await(await Z("DELETE",h(i))).json().catch(()=>({}));f.type==="error"?u(new Error(f.error)):P(a)},N=async()=>{try{let i={"X-Lxd-Mode":l.mode||"0644"};l.uid&&(i["X-Lxd-Uid"]=l.uid),l.gid&&(i["X-Lxd-Gid"]=l.gid),await S(l.path,new Blob([l.text]),i),g(null),P(a)}catch(i){u(i)}},v=a==="/"?null:a.replace(/\/[^/]+\/?$/,"")||"/";return l?t`<div class="files"><h3>${l.path}</h3><${O} error=${r} />
      ${l.text!=null?t`<textarea class="yaml" rows="20" spellcheck="false" value=${l.text} onInput=${i=>g({...l,text:i.target.value})} data-testid="file-editor"></textarea>`:t`<p class="muted">Not shown: a binary file or over ${M(Pe)}.</p>`}
      <div class="row-actions">${l.text!=null?t`<button class="primary" onClick=${N} data-testid="file-save">Save</button>`:null}
        <a class="button" href=${h(l.path)} download=${l.path.split("/").pop()} data-testid="file-download">Download</a><button onClick=${()=>g(null)}>Close</button></div></div>`:t`<div class="files">
    <div class="toolbar"><code data-testid="files-path">${a}</code>
      <label class="button">Upload<input type="file" class="hidden" onChange=${U} data-testid="file-upload" /></label><button onClick=${b}>New directory</button></div>
    <${O} error=${r} />
    <ul class="file-list" data-testid="file-list">
      ${v?t`<li><button class="link" onClick=${()=>P(v)}>..</button></li>`:null}
      ${(d||[]).map(i=>t`<li><button class="link" onClick=${()=>R(i)}>${i}</button>
        <span class="row-actions"><a class="small" href=${h(y(a,i))} download=${i}>download</a><button class="small danger" onClick=${()=>m(y(a,i))}>delete</button></span></li>`)}
    </ul>
    ${$?t`<${X} title=${"Delete "+$+"?"} yes="Delete" danger onNo=${()=>m(null)} onYes=${()=>x($)}><p>This cannot be undone.</p><//>`:null}
  </div>`}var Ve=[["","Overview"],["config","Configuration"],["snapshots","Snapshots"],["console","Console"],["terminal","Terminal"],["files","Files"]];function Oe({name:e}){let{query:a}=H(),o=a.get("tab")||"",[d,n]=p(null),[r,u]=p(null),[l,g]=p(null),[$,m]=p(""),h=()=>q("GET",I(e)+"?recursion=1").then(S=>{n({...S.metadata,etag:S.etag}),u(null)},u);_(()=>{h()},[e]),_(()=>F(S=>{if(S.type==="resync"){h();return}if(S.type!=="lifecycle")return;let U=/^\/1\.0\/instances\/([^/?]+)/.exec(S.metadata?.source||"");if(!(!U||decodeURIComponent(U[1])!==e||S.metadata.action==="instance-exec")){if(S.metadata.action==="instance-deleted"){ae("/ui/");return}h()}}),[e]),_(()=>{if(o!==""||d?.status!=="Running")return;let S=setInterval(()=>{document.hidden||j(I(e)+"/state").then(U=>n(b=>b&&{...b,state:U}),()=>{})},5e3);return()=>clearInterval(S)},[o,d?.status,e]);let y=async(S,U)=>{m(S),u(null);try{if(S==="delete"){d.status!=="Stopped"&&await D("PUT",I(e)+"/state",{action:"stop",force:!0,timeout:-1}),await D("DELETE",I(e)),ae("/ui/");return}await D("PUT",I(e)+"/state",U||{action:S,timeout:30})}catch(b){u(b)}finally{m("")}};if(!d)return t`<section class="page"><${O} error=${r} />${r?null:t`<p class="muted">Loading…</p>`}</section>`;let P=d.status==="Running",R=d.status==="Frozen";return t`<section class="page">
    <header class="page-head">
      <h1><${A} href="/ui/">Instances<//> / <span data-testid="instance-name">${e}</span> <${re} s=${d.status} /></h1>
      <div class="row-actions">
        ${!P&&!R?t`<button class="primary" disabled=${$} onClick=${()=>y("start")} data-testid="action-start">Start</button>`:null}
        ${P?t`<button disabled=${$} onClick=${()=>y("restart")}>Restart</button>`:null}
        ${P?t`<button disabled=${$} onClick=${()=>y("freeze")}>Freeze</button>`:null}
        ${R?t`<button disabled=${$} onClick=${()=>y("unfreeze")}>Unfreeze</button>`:null}
        ${P||R?t`<button disabled=${$} onClick=${()=>g("stop")} data-testid="action-stop">Stop</button>`:null}
        <button class="danger" disabled=${$} onClick=${()=>g("delete")} data-testid="action-delete">Delete</button>
      </div>
    </header>
    ${$?t`<p class="muted" role="status">${$}…</p>`:null}
    <${O} error=${r} />
    <${ye} tabs=${Ve} current=${o} base=${"/ui/instances/"+W(e)} />
    ${o===""?t`<${He} inst=${d} />`:null}
    ${o==="config"?t`<${Je} inst=${d} reload=${h} />`:null}
    ${o==="snapshots"?t`<${Ze} inst=${d} reload=${h} />`:null}
    ${o==="console"?t`<${et} name=${e} />`:null}
    ${o==="terminal"?t`<${tt} name=${e} running=${P} />`:null}
    ${o==="files"?t`<${Ie} name=${e} running=${P} />`:null}
    ${l?t`<${X} title=${l==="delete"?`Delete ${e}?`:`Stop ${e}?`} yes=${l==="delete"?"Delete":"Stop"} danger
      onNo=${()=>g(null)} onYes=${()=>{let S=l;g(null),y(S)}}>
      <p>${l==="delete"?"The instance, its snapshots and its data are deleted. This cannot be undone.":"The instance is asked to shut down (30 s, then forced)."}</p><//>`:null}
  </section>`}function He({inst:e}){let a=e.state||{},o=e.expanded_config||e.config||{},d=Object.entries(a.network||{}).filter(([r])=>r!=="lo"),n=Object.entries(a.disk||{});return t`<div class="cards">
    <div class="card"><h3>State</h3><dl>
      <dt>Status</dt><dd data-testid="ov-status">${e.status}</dd>
      <dt>PID</dt><dd>${a.pid||""}</dd><dt>Processes</dt><dd>${a.processes>0?a.processes:""}</dd>
      <dt>Image</dt><dd>${o["image.description"]||""}</dd>
      <dt>Profiles</dt><dd>${(e.profiles||[]).join(", ")}</dd>
      <dt>Created</dt><dd>${J(e.created_at)}</dd><dt>Last used</dt><dd>${J(e.last_used_at)}</dd>
    </dl></div>
    <div class="card"><h3>Usage</h3><dl>
      <dt>Memory</dt><dd>${M(a.memory?.usage)}${a.memory?.usage_peak?` (peak ${M(a.memory.usage_peak)})`:""}${o["limits.memory"]?` of ${o["limits.memory"]}`:""}</dd>
      <dt>CPU time</dt><dd>${a.cpu?.usage?(a.cpu.usage/1e9).toFixed(1)+" s":""}${o["limits.cpu"]?` (limit ${o["limits.cpu"]} CPUs)`:""}</dd>
      ${n.map(([r,u])=>t`<dt>Disk ${r}</dt><dd>${M(u.usage)}</dd>`)}
    </dl></div>
    <div class="card"><h3>Network</h3>${d.length?t`<dl>${d.map(([r,u])=>t`<dt>${r}</dt><dd>${(u.addresses||[]).filter(l=>l.scope==="global").map(l=>t`<div>${l.address}/${l.netmask}</div>`)}
      <div class="sub">${u.hwaddr} · rx ${M(u.counters?.bytes_received)} · tx ${M(u.counters?.bytes_sent)}</div></dd>`)}</dl>`:t`<p class="muted">${e.status==="Running"?"No interfaces":"Not running"}</p>`}
      <p class="muted">IPv4: <span data-testid="ov-ipv4">${oe(a,"inet").join(", ")}</span></p></div>
  </div>`}function Je({inst:e,reload:a}){let[o,d]=p("form"),n=()=>Object.entries(e.config||{}).filter(([i])=>!i.startsWith("volatile.")&&!i.startsWith("image.")),[r,u]=p(n),[l,g]=p((e.profiles||[]).join(", ")),[$,m]=p(""),[h,y]=p({}),[P,R]=p(!1),[S,U]=p(!1),b=ne(null);_(()=>{u(n()),g((e.profiles||[]).join(", "))},[e.etag]),_(()=>{o==="yaml"&&import("./chunk-MK2R57CU.js").then(i=>{b.current=i,m(i.dump({description:e.description||"",profiles:e.profiles||[],config:Object.fromEntries(n()),devices:e.devices||{}},{sortKeys:!0,lineWidth:-1}))})},[o,e.etag]);async function x(i){i.preventDefault(),y({}),R(!1),U(!0);let s;try{let f=Object.fromEntries(Object.entries(e.config||{}).filter(([w])=>w.startsWith("volatile.")||w.startsWith("image.")));if(o==="yaml"){let w=b.current.load($)||{};s={description:w.description||"",profiles:w.profiles||[],config:{...f,...Object.fromEntries(Object.entries(w.config||{}).map(([L,E])=>[L,String(E)]))},devices:w.devices||{}}}else s={description:e.description||"",profiles:l.split(",").map(w=>w.trim()).filter(Boolean),config:{...f,...Object.fromEntries(r.filter(([w])=>w.trim()).map(([w,L])=>[w.trim(),L]))},devices:e.devices||{}};s={architecture:e.architecture,ephemeral:e.ephemeral,...s}}catch(f){y({"":"YAML: "+f.message}),U(!1);return}try{await D("PUT",I(e.name),s,e.etag?{"If-Match":e.etag}:{}),R(!0),a()}catch(f){let w=se(f.message);y({[w.startsWith("config.")||w.startsWith("devices.")||w==="profiles"?w:""]:f.message})}finally{U(!1)}}let N=(i,s,f)=>u(r.map((w,L)=>L===i?s===0?[f,w[1]]:[w[0],f]:w)),v=Object.keys(h).filter(i=>i.startsWith("config.")&&!r.some(([s])=>"config."+s===i));return t`<form class="config" onSubmit=${x} data-testid="config-form">
    <div class="row-actions">
      <button type="button" class=${o==="form"?"on":""} onClick=${()=>d("form")} data-testid="mode-form">Form</button>
      <button type="button" class=${o==="yaml"?"on":""} onClick=${()=>d("yaml")} data-testid="mode-yaml">YAML</button>
    </div>
    ${h[""]?t`<p class="error" role="alert" data-testid="form-error">${h[""]}</p>`:null}
    ${o==="form"?t`
      <label class="field">Profiles <input value=${l} onInput=${i=>g(i.target.value)} data-testid="cfg-profiles" aria-invalid=${!!h.profiles} />
        ${h.profiles?t`<span class="field-error" role="alert">${h.profiles}</span>`:null}</label>
      <table class="list kv"><thead><tr><th>Key</th><th>Value</th><th></th></tr></thead><tbody>
      ${r.map(([i,s],f)=>t`<tr data-testid=${"cfg-row-"+i}>
        <td><input value=${i} aria-label="Key" onInput=${w=>N(f,0,w.target.value)} data-testid=${"cfg-key-"+f} /></td>
        <td><input value=${s} aria-label=${"Value of "+i} aria-invalid=${!!h["config."+i]} onInput=${w=>N(f,1,w.target.value)} data-testid=${"cfg-val-"+i} />
          ${h["config."+i]?t`<span class="field-error" role="alert" data-testid=${"cfg-err-"+i}>${h["config."+i]}</span>`:null}</td>
        <td><button type="button" class="small" onClick=${()=>u(r.filter((w,L)=>L!==f))} aria-label=${"Remove "+i}>✕</button></td></tr>`)}
      </tbody></table>
      ${v.map(i=>t`<p class="field-error" role="alert">${h[i]}</p>`)}
      <button type="button" onClick=${()=>u([...r,["",""]])} data-testid="cfg-add">Add key</button>
      <h3>Devices</h3>
      <table class="list kv"><tbody>${Object.entries(e.devices||{}).map(([i,s])=>t`<tr><td>${i}</td><td>${Object.entries(s).map(([f,w])=>`${f}=${w}`).join(" ")}
        ${h["devices."+i]?t`<span class="field-error" role="alert">${h["devices."+i]}</span>`:null}</td></tr>`)}</tbody></table>
      <p class="muted">Edit devices in YAML. Profiles add: ${Object.keys(e.expanded_devices||{}).filter(i=>!(e.devices||{})[i]).join(", ")}</p>`:t`
      <textarea class="yaml" spellcheck="false" rows="20" value=${$} onInput=${i=>m(i.target.value)} data-testid="cfg-yaml" aria-label="Configuration as YAML"></textarea>
      ${Object.entries(h).filter(([i])=>i).map(([i,s])=>t`<p class="field-error" role="alert" data-testid="yaml-error"><b>${i.replace(/^config\./,"config: ").replace(/^devices\./,"devices: ")}</b> ${s}</p>`)}`}
    <div class="row-actions"><button class="primary" type="submit" disabled=${S} data-testid="cfg-save">Save</button>${P?t`<span class="ok" role="status">Saved</span>`:null}</div>
  </form>`}var je=[["snapshots.schedule","Schedule (cron or @hourly, @daily)"],["snapshots.schedule.stopped","Also when stopped (true/false)"],["snapshots.expiry","Expiry (e.g. 2w)"],["snapshots.pattern","Name pattern (snap%d)"]];function Ze({inst:e,reload:a}){let o=e.name,d=Y(()=>j(I(o)+"/snapshots?recursion=1"),[o,e.etag,(e.snapshots||[]).length]),[n,r]=p(""),[u,l]=p(null),[g,$]=p(null),[m,h]=p(()=>Object.fromEntries(je.map(([v])=>[v,(e.config||{})[v]||""]))),[y,P]=p({}),[R,S]=p(!1),U=async v=>{l(null);try{await v(),d.reload(),a()}catch(i){l(i)}},b=v=>{v.preventDefault(),U(()=>D("POST",I(o)+"/snapshots",{name:n,stateful:!1})).then(()=>r(""))},x=async v=>{v.preventDefault(),P({}),S(!1);let i={...e.config};for(let[s,f]of Object.entries(m))f?i[s]=f:delete i[s];try{await D("PUT",I(o),{architecture:e.architecture,ephemeral:e.ephemeral,description:e.description,profiles:e.profiles,devices:e.devices,config:i},e.etag?{"If-Match":e.etag}:{}),S(!0),a()}catch(s){P({[se(s.message)]:s.message})}},N=d.data||[];return t`<div>
    <form class="inline" onSubmit=${b}><input placeholder="snapshot name (optional)" value=${n} onInput=${v=>r(v.target.value)} data-testid="snap-name" />
      <button class="primary" type="submit" data-testid="snap-create">Create snapshot</button></form>
    <${O} error=${u||d.error} />
    <table class="list"><thead><tr><th>Name</th><th>Created</th><th>Expires</th><th></th></tr></thead><tbody>
    ${N.map(v=>t`<tr data-testid=${"snap-"+v.name}><td>${v.name}</td><td>${J(v.created_at)}</td><td>${v.expires_at&&!v.expires_at.startsWith("0001")?new Date(v.expires_at).toLocaleString():""}</td>
      <td class="row-actions"><button class="small" onClick=${()=>$(["restore",v.name])} data-testid=${"snap-restore-"+v.name}>Restore</button><button class="small danger" onClick=${()=>$(["delete",v.name])} data-testid=${"snap-delete-"+v.name}>Delete</button></td></tr>`)}
    </tbody></table>
    ${!d.loading&&!N.length?t`<p class="muted">No snapshots.</p>`:null}
    <h3>Schedule</h3>
    <form onSubmit=${x}>${je.map(([v,i])=>t`<label class="field">${i}<input value=${m[v]} onInput=${s=>h({...m,[v]:s.target.value})} aria-invalid=${!!y["config."+v]} data-testid=${"sched-"+v} />
      ${y["config."+v]?t`<span class="field-error" role="alert" data-testid=${"sched-err-"+v}>${y["config."+v]}</span>`:null}</label>`)}
      ${y[""]?t`<p class="error" role="alert" data-testid="sched-err">${y[""]}</p>`:null}
      <button type="submit" data-testid="sched-save">Save schedule</button>${R?t`<span class="ok" role="status" data-testid="sched-saved">Saved</span>`:null}</form>
    ${g?t`<${X} title=${`${g[0]==="restore"?"Restore":"Delete"} snapshot ${g[1]}?`} yes=${g[0]==="restore"?"Restore":"Delete"} danger
      onNo=${()=>$(null)} onYes=${()=>{let[v,i]=g;$(null),U(()=>v==="restore"?D("PUT",I(o),{restore:i}):D("DELETE",I(o)+"/snapshots/"+W(i)))}}>
      <p>${g[0]==="restore"?`${o}'s files and config go back to ${g[1]}; changes since are lost.`:"This cannot be undone."}</p><//>`:null}
  </div>`}function et({name:e}){let[a,o]=p(null),[d,n]=p(null),r=()=>Z("GET",I(e)+"/logs/console.log").then(async u=>{if(!u.ok)throw new Error((await u.json().catch(()=>({}))).error||`HTTP ${u.status}`);o(await u.text())}).catch(n);return _(()=>{r()},[e]),t`<div><div class="row-actions"><button onClick=${r} data-testid="console-refresh">Refresh</button></div><${O} error=${d} />
    <pre class="log" data-testid="console-log">${a??""}</pre>${a===""?t`<p class="muted">The console log is empty.</p>`:null}</div>`}function tt({name:e,running:a}){let[o,d]=p(null);return _(()=>{import("./chunk-Z2ET63EC.js").then(n=>d(()=>n.Terminal))},[]),a?o?t`<${o} name=${e} />`:t`<p class="muted">Loading terminal…</p>`:t`<p class="muted">Start the instance to open a terminal.</p>`}function Ue(){let[e,a]=p(null),[o,d]=p(null),[n,r]=p({source:"local",image:"",server:"",protocol:"simplestreams",alias:"",name:"",profiles:["default"],cpu:"",memory:"",network:"",pool:"",start:!0}),[u,l]=p({}),[g,$]=p(""),[m,h]=p("");_(()=>{Promise.all([j("/1.0/images?recursion=1"),j("/1.0/profiles?recursion=1"),j("/1.0/networks?recursion=1"),j("/1.0/storage-pools?recursion=1")]).then(([b,x,N,v])=>{a({images:b,profiles:x,networks:N.filter(i=>i.managed),pools:v}),b.length&&r(i=>({...i,image:i.image||b[0].fingerprint}))},d)},[]);let y=b=>x=>r({...n,[b]:x.target.type==="checkbox"?x.target.checked:x.target.value}),P=b=>r({...n,profiles:n.profiles.includes(b)?n.profiles.filter(x=>x!==b):[...n.profiles,b]});async function R(b){b.preventDefault(),l({}),h("");let x=n.source==="local"?{type:"image",fingerprint:n.image}:{type:"image",server:n.server.trim(),protocol:n.protocol,alias:n.alias.trim(),mode:"pull"},N={};n.cpu&&(N["limits.cpu"]=n.cpu),n.memory&&(N["limits.memory"]=n.memory);let v={};if(n.network&&(v.eth0={type:"nic",name:"eth0",network:n.network}),n.pool&&(v.root={type:"disk",path:"/",pool:n.pool}),!n.name.trim()){l({name:"Give the instance a name."});return}if(n.source==="local"&&!n.image){l({image:"Pick an image."});return}if(n.source==="remote"&&(!n.server||!n.alias)){l({image:"Give the remote server URL and the image alias."});return}let i=n.name.trim(),s=null,f=new Map,w=(E={})=>{E.download_progress?h(E.download_progress):E.create_instance_from_image_unpack_progress&&h(E.create_instance_from_image_unpack_progress)},L=F(E=>{E.type==="operation"&&(s===null?f.set(E.metadata?.id,E.metadata?.metadata):E.metadata?.id===s&&w(E.metadata.metadata||{}))});try{$("Creating");let E=await q("POST","/1.0/instances",{name:i,source:x,profiles:n.profiles,config:N,devices:v,type:"container"});E.type==="async"&&(s=E.metadata.id,w(f.get(s)||E.metadata.metadata||{}),f.clear(),await Se(E.metadata)),n.start&&($("Starting"),await D("PUT",I(i)+"/state",{action:"start",timeout:30})),ae("/ui/instances/"+W(i))}catch(E){let te=_e(E.message);l({[te]:E.message}),$("")}finally{L()}}if(o)return t`<section class="page"><${O} error=${o} /></section>`;if(!e)return t`<section class="page"><p class="muted">Loading…</p></section>`;let S=b=>u[b]?t`<span class="field-error" role="alert" data-testid=${"err-"+b}>${u[b]}</span>`:null,U=b=>`${(b.aliases||[]).map(x=>x.name).join(", ")||b.fingerprint.slice(0,12)}${b.properties?.description?" \u2014 "+b.properties.description:""}`;return t`<section class="page narrow">
    <header class="page-head"><h1><${A} href="/ui/">Instances<//> / Launch</h1></header>
    <form onSubmit=${R} data-testid="launch-form" novalidate>
      ${u[""]?t`<p class="error" role="alert" data-testid="err-form">${u[""]}</p>`:null}
      <fieldset><legend>Image</legend>
        <label class="inline"><input type="radio" name="src" checked=${n.source==="local"} onChange=${()=>r({...n,source:"local"})} /> Local</label>
        <label class="inline"><input type="radio" name="src" checked=${n.source==="remote"} onChange=${()=>r({...n,source:"remote"})} data-testid="src-remote" /> From a remote server</label>
        ${n.source==="local"?t`<label class="field">Image<select value=${n.image} onChange=${y("image")} data-testid="image" aria-invalid=${!!u.image}>
            ${e.images.map(b=>t`<option value=${b.fingerprint}>${U(b)}</option>`)}</select>
            ${e.images.length?null:t`<span class="muted">No local images: build one (lodge image build busybox) or use a remote.</span>`}</label>`:t`<label class="field">Server URL<input value=${n.server} placeholder="https://images.example.org" onInput=${y("server")} data-testid="remote-server" /></label>
            <label class="field">Protocol<select value=${n.protocol} onChange=${y("protocol")}><option>simplestreams</option><option>lxd</option></select></label>
            <label class="field">Alias<input value=${n.alias} placeholder="debian/12" onInput=${y("alias")} data-testid="remote-alias" /></label>`}
        ${S("image")}
      </fieldset>
      <label class="field">Name<input value=${n.name} onInput=${y("name")} autocomplete="off" data-testid="name" aria-invalid=${!!u.name} />${S("name")}</label>
      <fieldset><legend>Profiles</legend>${e.profiles.map(b=>t`<label class="inline"><input type="checkbox" checked=${n.profiles.includes(b.name)} onChange=${()=>P(b.name)} /> ${b.name}</label>`)}${S("profiles")}</fieldset>
      <div class="grid2">
        <label class="field">CPUs (limits.cpu)<input value=${n.cpu} placeholder="e.g. 2" onInput=${y("cpu")} data-testid="limits-cpu" aria-invalid=${!!u["config.limits.cpu"]} />${S("config.limits.cpu")}</label>
        <label class="field">Memory (limits.memory)<input value=${n.memory} placeholder="e.g. 512MiB" onInput=${y("memory")} data-testid="limits-memory" aria-invalid=${!!u["config.limits.memory"]} />${S("config.limits.memory")}</label>
        <label class="field">Network<select value=${n.network} onChange=${y("network")} data-testid="network" aria-invalid=${!!u.network}><option value="">from the profiles</option>${e.networks.map(b=>t`<option>${b.name}</option>`)}</select>${S("network")}</label>
        <label class="field">Storage pool<select value=${n.pool} onChange=${y("pool")} data-testid="pool" aria-invalid=${!!u.pool}><option value="">from the profiles</option>${e.pools.map(b=>t`<option>${b.name}</option>`)}</select>${S("pool")}</label>
      </div>
      ${S("config")}${S("devices")}
      <label class="inline"><input type="checkbox" checked=${n.start} onChange=${y("start")} data-testid="start" /> Start it</label>
      <div class="row-actions"><button class="primary" type="submit" disabled=${!!g} data-testid="launch-submit">${g?g+"\u2026":"Launch"}</button>
        ${m?t`<span class="muted" role="status" data-testid="launch-progress">${m}</span>`:null}</div>
    </form></section>`}function ie(e,a){_(()=>F(o=>{(o.type==="resync"||o.type==="lifecycle"&&(o.metadata?.action||"").startsWith(e))&&a()}),[a])}function De(){let e=Y(()=>j("/1.0/images?recursion=1"),[]);ie("image-",e.reload);let[a,o]=p(null),[d,n]=p(null);return t`<section class="page"><header class="page-head"><h1>Images</h1></header><${O} error=${e.error||d} />
    <table class="list" data-testid="images-table"><thead><tr><th>Alias</th><th>Fingerprint</th><th>Description</th><th class="c-size">Size</th><th class="c-created">Uploaded</th><th></th></tr></thead><tbody>
    ${(e.data||[]).map(r=>t`<tr><td>${(r.aliases||[]).map(u=>u.name).join(", ")}</td><td><code>${r.fingerprint.slice(0,12)}</code></td>
      <td>${r.properties?.description||""}</td><td class="c-size">${M(r.size)}</td><td class="c-created">${J(r.uploaded_at)}</td>
      <td><button class="small danger" onClick=${()=>o(r)}>Delete</button></td></tr>`)}</tbody></table>
    ${a?t`<${X} title=${"Delete image "+a.fingerprint.slice(0,12)+"?"} yes="Delete" danger onNo=${()=>o(null)}
      onYes=${async()=>{let r=a;o(null);try{await D("DELETE","/1.0/images/"+r.fingerprint),e.reload()}catch(u){n(u)}}}><p>Instances made from it keep working.</p><//>`:null}
  </section>`}function Re({url:e,obj:a,fields:o,onDone:d}){let[n,r]=p(null),[u,l]=p(null),[g,$]=p(null);_(()=>{import("./chunk-MK2R57CU.js").then(h=>{$(h),r(h.dump(Object.fromEntries(o.map(y=>[y,a[y]??(y==="description"?"":{})])),{sortKeys:!0,lineWidth:-1}))})},[e]);let m=async()=>{l(null);try{let h=g.load(n)||{};await D("PUT",e,h),d()}catch(h){let y=se(h.message);l(y?`${y.replace(".",": ")} \u2014 ${h.message}`:h.message)}};return n==null?t`<p class="muted">Loading…</p>`:t`<div class="yaml-edit"><textarea class="yaml" rows="14" spellcheck="false" value=${n} onInput=${h=>r(h.target.value)} data-testid="yaml-edit"></textarea>
    ${u?t`<p class="field-error" role="alert" data-testid="yaml-edit-error">${u}</p>`:null}<div class="row-actions"><button class="primary" onClick=${m} data-testid="yaml-edit-save">Save</button><button onClick=${d}>Cancel</button></div></div>`}function Ne(){let e=Y(()=>j("/1.0/profiles?recursion=1"),[]);ie("profile-",e.reload);let[a,o]=p(""),[d,n]=p(""),[r,u]=p(null),[l,g]=p(null),$=async m=>{m.preventDefault(),u(null);try{await D("POST","/1.0/profiles",{name:d,config:{},devices:{}}),n(""),e.reload()}catch(h){u(h)}};return t`<section class="page"><header class="page-head"><h1>Profiles</h1></header><${O} error=${e.error||r} />
    <form class="inline" onSubmit=${$}><input placeholder="new profile name" value=${d} onInput=${m=>n(m.target.value)} data-testid="profile-name" /><button type="submit" data-testid="profile-create">Create</button></form>
    ${(e.data||[]).map(m=>t`<div class="card wide" data-testid=${"profile-"+m.name}><h3>${m.name} <small>${m.description}</small></h3>
      ${a===m.name?t`<${Re} url=${"/1.0/profiles/"+W(m.name)} obj=${m} fields=${["description","config","devices"]} onDone=${()=>{o(""),e.reload()}} />`:t`
      <dl>${Object.entries(m.config||{}).map(([h,y])=>t`<dt>${h}</dt><dd>${y}</dd>`)}${Object.entries(m.devices||{}).map(([h,y])=>t`<dt>device ${h}</dt><dd>${Object.entries(y).map(([P,R])=>`${P}=${R}`).join(" ")}</dd>`)}</dl>
      <p class="muted">Used by ${(m.used_by||[]).length}</p>
      <div class="row-actions"><button class="small" onClick=${()=>o(m.name)} data-testid=${"profile-edit-"+m.name}>Edit</button>${m.name!=="default"?t`<button class="small danger" onClick=${()=>g(m.name)} data-testid=${"profile-delete-"+m.name}>Delete</button>`:null}</div>`}</div>`)}
    ${l?t`<${X} title=${"Delete profile "+l+"?"} yes="Delete" danger onNo=${()=>g(null)} onYes=${async()=>{let m=l;g(null);try{await D("DELETE","/1.0/profiles/"+W(m)),e.reload()}catch(h){u(h)}}} />`:null}
  </section>`}function Me(){let e=Y(()=>j("/1.0/networks?recursion=1"),[]);ie("network-",e.reload);let[a,o]=p(""),[d,n]=p("");return t`<section class="page"><header class="page-head"><h1>Networks</h1></header><${O} error=${e.error} />
    <table class="list wrap"><thead><tr><th>Name</th><th>Type</th><th>IPv4</th><th class="c-ipv6">IPv6</th><th>Used by</th><th></th></tr></thead><tbody>
    ${(e.data||[]).filter(r=>r.managed).map(r=>t`<tr data-testid=${"net-"+r.name}><td>${r.name}</td><td>${r.type}</td><td>${r.config?.["ipv4.address"]||""}</td><td class="c-ipv6">${r.config?.["ipv6.address"]||""}</td>
      <td>${(r.used_by||[]).length}</td><td class="row-actions"><button class="small" onClick=${()=>o(a===r.name?"":r.name)} data-testid=${"leases-"+r.name}>Leases</button><button class="small" onClick=${()=>n(r.name)}>Edit</button></td></tr>
      ${a===r.name?t`<tr><td colspan="6"><${at} name=${r.name} /></td></tr>`:null}
      ${d===r.name?t`<tr><td colspan="6"><${Re} url=${"/1.0/networks/"+W(r.name)} obj=${r} fields=${["description","config"]} onDone=${()=>{n(""),e.reload()}} /></td></tr>`:null}`)}
    </tbody></table></section>`}function at({name:e}){let a=Y(()=>j("/1.0/networks/"+W(e)+"/leases"),[e]);return t`<${O} error=${a.error} /><table class="list inner" data-testid="leases"><thead><tr><th>Host</th><th>Address</th><th>MAC</th><th>Type</th></tr></thead><tbody>
    ${(a.data||[]).map(o=>t`<tr><td>${o.hostname}</td><td>${o.address}</td><td>${o.hwaddr}</td><td>${o.type}</td></tr>`)}</tbody></table>
    ${a.data&&!a.data.length?t`<p class="muted">No leases.</p>`:null}`}function We(){let e=Y(()=>j("/1.0/storage-pools?recursion=1"),[]);ie("storage-",e.reload);let[a,o]=p("");return t`<section class="page"><header class="page-head"><h1>Storage</h1></header><${O} error=${e.error} />
    <table class="list"><thead><tr><th>Pool</th><th>Driver</th><th>Source</th><th>Status</th><th></th></tr></thead><tbody>
    ${(e.data||[]).map(d=>t`<tr data-testid=${"pool-"+d.name}><td>${d.name}</td><td>${d.driver}</td><td><code>${d.config?.source||""}</code></td><td>${d.status}</td>
      <td><button class="small" onClick=${()=>o(a===d.name?"":d.name)} data-testid=${"volumes-"+d.name}>Volumes</button></td></tr>
      ${a===d.name?t`<tr><td colspan="5"><${st} pool=${d.name} /></td></tr>`:null}`)}
    </tbody></table></section>`}function st({pool:e}){let a=Y(()=>j("/1.0/storage-pools/"+W(e)+"/volumes?recursion=1"),[e]),d=Y(()=>j("/1.0/storage-pools/"+W(e)+"/resources"),[e]).data?.space;return t`${d?t`<p class="muted">Used ${M(d.used)} of ${M(d.total)}</p>`:null}<${O} error=${a.error} />
    <table class="list inner" data-testid="volumes"><thead><tr><th>Type</th><th>Name</th><th>Used by</th></tr></thead><tbody>
    ${(a.data||[]).map(n=>t`<tr><td>${n.type}</td><td title=${n.name}>${n.type==="image"?n.name.slice(0,12):n.name}</td>
      <td>${(n.used_by||[]).map(r=>r.replace(/^\/1\.0\//,"").replace(/[0-9a-f]{64}/,u=>u.slice(0,12))).join(", ")}</td></tr>`)}</tbody></table>`}function ze(){let[e,a]=p(null),[o,d]=p(null),n=()=>j("/1.0/operations?recursion=1").then(l=>{let g=[...l.running||[],...l.success||[],...l.failure||[]];a(new Map(g.map($=>[$.id,$])))},d);_(()=>{n()},[]),_(()=>F(l=>{if(l.type==="resync"){n();return}l.type==="operation"&&a(g=>new Map(g||[]).set(l.metadata.id,l.metadata))}),[]);let r=async l=>{try{await q("DELETE","/1.0/operations/"+l.id)}catch(g){d(g)}},u=[...e?.values()||[]].sort((l,g)=>l.created_at<g.created_at?1:-1);return t`<section class="page"><header class="page-head"><h1>Operations</h1></header><${O} error=${o} />
    <table class="list wrap" data-testid="operations-table"><thead><tr><th>Description</th><th>Status</th><th>Resources</th><th class="c-created">Started</th><th></th></tr></thead><tbody>
    ${u.map(l=>t`<tr data-testid=${"op-"+l.id} data-status=${l.status}><td>${l.description}${l.metadata?.download_progress?t`<div class="sub">${l.metadata.download_progress}</div>`:null}${l.err?t`<div class="sub error">${l.err}</div>`:null}</td>
      <td>${l.status}</td><td>${Object.values(l.resources||{}).flat().filter((g,$,m)=>m.indexOf(g)===$).map(g=>g.replace(/^\/1\.0\//,"")).join(", ")}</td>
      <td class="c-created">${J(l.created_at)}</td><td>${l.may_cancel&&l.status_code<200?t`<button class="small danger" onClick=${()=>r(l)} data-testid=${"op-cancel-"+l.id}>Cancel</button>`:null}</td></tr>`)}
    </tbody></table>${e&&!u.length?t`<p class="muted">No recent operations.</p>`:null}</section>`}var nt=[["/ui/","Instances"],["/ui/images","Images"],["/ui/profiles","Profiles"],["/ui/networks","Networks"],["/ui/storage","Storage"],["/ui/operations","Operations"]];function ot(){let{path:e}=H(),a;return e==="/ui/"||e==="/ui"?t`<${Te} />`:e==="/ui/launch"?t`<${Ue} />`:(a=/^\/ui\/instances\/([^/]+)$/.exec(e))?t`<${Oe} name=${decodeURIComponent(a[1])} key=${a[1]} />`:e==="/ui/images"?t`<${De} />`:e==="/ui/profiles"?t`<${Ne} />`:e==="/ui/networks"?t`<${Me} />`:e==="/ui/storage"?t`<${We} />`:e==="/ui/operations"?t`<${ze} />`:t`<section class="page"><h1>Not found</h1><p><${A} href="/ui/">Back to the instances<//></p></section>`}function rt({auth:e}){let{path:a}=H(),[o,d]=p(()=>new Set);_(()=>F(r=>{if(r.type!=="operation")return;let u=r.metadata;d(l=>{let g=l.has(u.id),$=u.status_code<200;if(g===$)return l;let m=new Set(l);return $?m.add(u.id):m.delete(u.id),m})}),[]);let n=r=>r==="/ui/"?a==="/ui/"||a.startsWith("/ui/instances")||a==="/ui/launch":a.startsWith(r);return t`<header class="top">
      <${A} href="/ui/" class="brand">lodge<//>
      <nav class="main-nav">${nt.map(([r,u])=>t`<${A} href=${r} class=${n(r)?"on":""}>${u}${u==="Operations"&&o.size>0?t` <span class="badge">${o.size}</span>`:null}<//>`)}</nav>
      <span class="who">${G.server?.environment?.server_name||""}${e.auth==="session"?t` <button class="small" onClick=${we} data-testid="logout">Log out</button>`:null}</span>
    </header>
    <main><${ot} /></main>`}async function lt(){let e=document.getElementById("app");new URLSearchParams(location.search).has("login")&&history.replaceState(null,"",location.pathname);try{let[a,o]=await Promise.all([ve(),j("/1.0")]);ke(o),e.textContent="",ce(t`<${rt} auth=${a} />`,e)}catch(a){e.textContent="",ce(t`<section class="page"><${O} error=${a} /></section>`,e)}}lt();
