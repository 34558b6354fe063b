/// The web view's Mustache templates, style sheet and map script, compiled into the binary (an
/// installed `strata` is copied alone, so nothing is read from beside it).
///
/// > Every value is escaped: the templates use only `{{name}}` (HTML-escaped, quotes
/// > included), never `{{{name}}}` or `{{& name}}`; `WebTests` checks the sources for them.
/// > No template has inline script or style, so the Content-Security-Policy forbids both.
enum WebTemplates {
    static let layout = """
        {{! The frame of every page: a header with the project's links, then the page. }}
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{pageTitle}} · Strata</title>
        <link rel="stylesheet" href="{{static}}/style.css">
        {{#map}}<link rel="stylesheet" href="{{static}}/leaflet/leaflet.css">{{/map}}
        </head>
        <body>
        <header class="top">
        <a class="brand" href="{{home}}">Strata</a>
        {{#project}}
        <nav>
        <a href="{{base}}/">{{name}}</a>
        <a href="{{base}}/records">Records</a>
        <a href="{{base}}/map">Map</a>
        </nav>
        {{#signOut}}
        <form class="signout" method="post" action="{{base}}/signout"><button type="submit">Sign out</button></form>
        {{/signOut}}
        {{/project}}
        </header>
        <main>
        {{$main}}{{/main}}
        </main>
        <footer><a href="{{jsonTwin}}" class="json-twin">This page as JSON</a></footer>
        {{#map}}{{#leaflet}}<script src="{{static}}/leaflet/leaflet.js"></script>
        <script src="{{static}}/map.js"></script>{{/leaflet}}{{/map}}
        </body>
        </html>
        """

    static let signIn = """
        {{<layout}}{{$main}}
        <h1>Sign in</h1>
        <p>Give the name of the project and a token of it (a read token is enough). The token is
        traded for a session of {{hours}} hours on this browser; it never goes into an address.</p>
        {{#problem}}<p class="problem" role="alert">{{problem}}</p>{{/problem}}
        <form class="signin" method="post" action="{{signInAction}}">
        <label>Project <input name="project" value="{{projectName}}" autocomplete="username" required></label>
        <label>Token <input name="token" type="password" autocomplete="current-password" required></label>
        <button type="submit">Sign in</button>
        </form>
        {{/main}}{{/layout}}
        """

    static let message = """
        {{<layout}}{{$main}}
        <h1>{{heading}}</h1>
        <p class="message">{{text}}</p>
        {{/main}}{{/layout}}
        """

    static let overview = """
        {{<layout}}{{$main}}
        <h1>{{projectTitle}}</h1>
        <p class="counts">{{records}} records{{#conflicts}}, <a href="{{base}}/records?conflicts=1">{{conflicts}} with a conflict</a>{{/conflicts}}.</p>
        <section class="by-kind"><h2>By kind</h2><ul>
        {{#kinds}}<li><a href="{{base}}/records?kind={{value}}">{{value}}</a>: <span class="count">{{count}}</span></li>{{/kinds}}
        </ul></section>
        <section class="by-state"><h2>Artefacts by state</h2><ul>
        {{#states}}<li><a href="{{base}}/records?state={{value}}">{{value}}</a>: <span class="count">{{count}}</span></li>{{/states}}
        {{^states}}<li>No artefact has a state yet.</li>{{/states}}
        </ul></section>
        <section class="by-condition"><h2>Sites by condition</h2><ul>
        {{#conditions}}<li><a href="{{base}}/records?kind=site&amp;condition={{value}}">{{value}}</a>: <span class="count">{{count}}</span></li>{{/conditions}}
        {{^conditions}}<li>No site has a condition yet.</li>{{/conditions}}
        </ul></section>
        <section class="recent"><h2>Recent changes</h2>
        <table><thead><tr><th>When</th><th>Who</th><th>Record</th></tr></thead><tbody>
        {{#recent}}<tr><td><time>{{at}}</time></td><td class="author">{{author}}</td><td><a href="{{href}}">{{title}}</a> <span class="kind">{{kind}}</span></td></tr>{{/recent}}
        </tbody></table>
        {{^recent}}<p>No records yet.</p>{{/recent}}
        </section>
        {{/main}}{{/layout}}
        """

    static let list = """
        {{<layout}}{{$main}}
        <h1>Records</h1>
        <form class="filters" method="get" action="{{base}}/records">
        <label>Kind <select name="kind"><option value="">any</option>{{#kindOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/kindOptions}}</select></label>
        <label>State <select name="state"><option value="">any</option>{{#stateOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/stateOptions}}</select></label>
        <label>Condition <select name="condition"><option value="">any</option>{{#conditionOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/conditionOptions}}</select></label>
        <label>Tag <input name="tag" value="{{tag}}"></label>
        <label>Text <input name="q" type="search" value="{{q}}"></label>
        <button type="submit">Filter</button>
        </form>
        {{#problem}}<p class="problem" role="alert">{{problem}}</p>{{/problem}}
        <p class="summary">{{summary}}</p>
        <ul class="records">
        {{#items}}<li class="record kind-{{kind}}"><a href="{{href}}">{{title}}</a> <span class="kind">{{kind}}</span> <span class="short">{{short}}</span>{{#status}} <span class="status">{{status}}</span>{{/status}}{{#tags}} <span class="tag">#{{.}}</span>{{/tags}}{{#conflict}} <span class="conflict-mark" title="conflict">!</span>{{/conflict}}</li>{{/items}}
        </ul>
        <nav class="pages">{{#previous}}<a rel="prev" href="{{previous}}">Newer</a>{{/previous}} {{#next}}<a rel="next" href="{{next}}">Older</a>{{/next}}</nav>
        {{/main}}{{/layout}}
        """

    static let record = """
        {{<layout}}{{$main}}
        <h1>{{recordTitle}}</h1>
        <p class="meta"><span class="kind">{{kind}}</span> <span class="short">{{short}}</span>{{#deleted}} <span class="deleted">deleted</span>{{/deleted}}{{#created}} · created <time>{{at}}</time> by <span class="author">{{by}}</span>{{/created}}{{#modified}} · modified <time>{{modified}}</time>{{/modified}}</p>
        <section class="fields"><h2>Fields</h2>
        <dl>
        {{#fields}}<div class="field field-{{name}}"><dt>{{name}}{{#conflict}} <span class="conflict-mark">! conflict</span>{{/conflict}}</dt><dd{{#long}} class="long"{{/long}}>{{#link}}<a href="{{link}}" rel="noopener noreferrer nofollow">{{text}}</a>{{/link}}{{^link}}{{text}}{{/link}}</dd></div>{{/fields}}
        </dl>
        {{^fields}}<p>No fields.</p>{{/fields}}
        </section>
        {{#hasConflicts}}
        <section class="conflicts"><h2>Conflicts</h2>
        {{#conflicts}}<div class="conflict" data-field="{{field}}"><h3>{{field}}</h3><ol>
        {{#values}}<li><span class="conflict-value">{{text}}</span> — <span class="conflict-author">{{author}}</span>, <time>{{at}}</time>{{#winner}} <span class="shown">(shown)</span>{{/winner}}</li>{{/values}}
        </ol></div>{{/conflicts}}
        {{#deleteConflict}}<div class="conflict delete-conflict"><h3>deleted while being edited</h3>
        <p>Deleted by <span class="conflict-author">{{author}}</span>, <time>{{at}}</time>, without seeing:</p><ul>
        {{#edits}}<li><span class="conflict-value">{{text}}</span> — <span class="conflict-author">{{author}}</span>, <time>{{at}}</time></li>{{/edits}}
        </ul></div>{{/deleteConflict}}
        <p class="resolve">Resolve with <code>strata resolve</code> on a replica.</p>
        </section>
        {{/hasConflicts}}
        <section class="tags"><h2>Tags</h2>
        {{#tags}}<span class="tag">#{{.}}</span> {{/tags}}{{^tags}}<p>No tags.</p>{{/tags}}
        </section>
        <section class="relations"><h2>Relations</h2><ul>
        {{#relations}}<li><span class="relation-type">{{type}}</span> {{#href}}<a href="{{href}}">{{title}}</a> <span class="kind">{{kind}}</span>{{/href}}{{^href}}<span class="short">{{target}}</span> (not on this replica){{/href}}</li>{{/relations}}
        {{^relations}}<li>None.</li>{{/relations}}
        </ul></section>
        <section class="related"><h2>{{relatedHeading}}</h2><ul>
        {{#related}}<li><a href="{{href}}">{{title}}</a> <span class="kind">{{kind}}</span> <span class="relation-type">{{types}}</span></li>{{/related}}
        {{^related}}<li>None.</li>{{/related}}
        </ul></section>
        <section class="attachments"><h2>Attachments</h2>
        {{#attachments}}<figure class="attachment">{{#image}}<a href="{{href}}"><img class="thumbnail" src="{{href}}" alt="{{name}}"></a>{{/image}}
        <figcaption><a href="{{href}}" class="attachment-name">{{name}}</a> <span class="size">{{size}}</span> <span class="media-type">{{mediaType}}</span>{{^here}} <span class="absent">(bytes not on this server)</span>{{/here}}{{#caption}}<br><span class="caption">{{caption}}</span>{{/caption}}{{#conflict}} <span class="conflict-mark">! caption conflict</span>{{/conflict}}</figcaption></figure>{{/attachments}}
        {{^attachments}}<p>No attachments.</p>{{/attachments}}
        </section>
        <section class="history"><h2>History</h2><ol class="timeline">
        {{#history}}<li><time>{{at}}</time> <span class="author">{{author}}</span> <span class="field">{{field}}</span> {{action}}{{#value}} <span class="value">{{value}}</span>{{/value}}</li>{{/history}}
        </ol></section>
        {{/main}}{{/layout}}
        """

    static let map = """
        {{<layout}}{{$main}}
        <h1>Map</h1>
        {{^leaflet}}<p class="problem" role="alert">The map needs Leaflet: apt-get install libjs-leaflet (or point --leaflet-dir at a copy of it).</p>{{/leaflet}}
        <div id="map" class="map" data-geojson="{{base}}/map.json" data-records="{{base}}/records/"{{#tiles}} data-tiles="{{tiles}}"{{/tiles}}></div>
        <section class="legend"><h2>Legend</h2>
        <h3>Sites by condition</h3><ul class="legend-conditions">
        {{#conditionLegend}}<li class="legend-item" data-class="{{cssClass}}" data-color="{{color}}"><span class="swatch {{cssClass}}"></span>{{value}}</li>{{/conditionLegend}}
        </ul>
        <h3>Artefacts by state</h3><ul class="legend-states">
        {{#stateLegend}}<li class="legend-item" data-class="{{cssClass}}" data-color="{{color}}"><span class="swatch {{cssClass}}"></span>{{value}}</li>{{/stateLegend}}
        </ul></section>
        <section class="located"><h2>Located records</h2><ul>
        {{#located}}<li><a href="{{href}}">{{title}}</a> <span class="kind">{{kind}}</span> <span class="status">{{status}}</span></li>{{/located}}
        {{^located}}<li>No site or artefact has a location.</li>{{/located}}
        </ul></section>
        {{/main}}{{/layout}}
        """
}
