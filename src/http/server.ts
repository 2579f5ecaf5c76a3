// The HTTP server shell: express app with /healthz, the routers the composition root hands it,
// timeouts on every request, JSON errors, and a clean stop.
import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Logger } from '../log.js'
import { ConnectionLimit, type ConnectionLimitOptions } from './connection-limit.js'

export interface Mount {
  /** mount path, default "/" */
  path?: string
  router: Router
}

export interface HttpServerOptions {
  listen: string
  port: number
  logger: Logger
  mounts: Mount[]
  /** body of GET /healthz */
  health: () => Record<string, unknown>
  /** a request that has not finished sending headers+body within this time is dropped (default 30 s) */
  requestTimeoutMs?: number
  /** open connections overall and per source address (default 256 / 32) */
  connections?: ConnectionLimitOptions
  /**
   * slow-reader guard: a connection that neither sends nor takes any byte for this long is destroyed
   * (default 60 s; a download the client stopped reading makes no progress). SSE streams send a
   * heartbeat more often than this.
   */
  idleTimeoutMs?: number
}

/** request paths for logs: cloud-init paths carry a per-boot secret token */
export function redactPath(path: string): string {
  return path.replace(/^\/cloud-init\/[^/]+/, '/cloud-init/<token>')
}

export function createHttpApp(opts: Pick<HttpServerOptions, 'mounts' | 'health' | 'logger'>): express.Express {
  const app = express()
  app.disable('x-powered-by')
  app.set('etag', false)
  app.get('/healthz', (_req, res) => {
    const body = opts.health()
    res.status(body.status === 'ok' ? 200 : 503).json(body)
  })
  for (const m of opts.mounts) app.use(m.path ?? '/', m.router)
  app.use((_req, res) => { res.status(404).json({ error: 'not found' }) })
  app.use((err: Error & { status?: number; type?: string }, req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 600 ? err.status : 500
    if (status >= 500) opts.logger.error({ err, path: redactPath(req.path) }, 'request failed')
    if (!res.headersSent) res.status(status).json({ error: status >= 500 ? 'internal error' : err.message })
    else res.destroy()
  })
  return app
}

export class HttpService {
  readonly name = 'http'
  #server: Server | undefined
  #sockets = new Set<Socket>()
  /** open/refused connection counts (metrics) */
  readonly limit: ConnectionLimit

  constructor(private readonly opts: HttpServerOptions) {
    this.limit = new ConnectionLimit(opts.connections)
  }

  async start(): Promise<void> {
    const app = createHttpApp(this.opts)
    const server = createServer({ requestTimeout: this.opts.requestTimeoutMs ?? 30_000, headersTimeout: 15_000, keepAliveTimeout: 5_000 }, app)
    // no progress either way for this long: the socket is destroyed (Node's default 'timeout' action)
    server.timeout = this.opts.idleTimeoutMs ?? 60_000
    // before the HTTP parser sees the socket: a refused connection is closed without reading a byte
    server.prependListener('connection', (s: Socket) => {
      if (!this.limit.admit(s)) return
      this.#sockets.add(s)
      s.on('close', () => this.#sockets.delete(s))
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.opts.port, this.opts.listen, () => { server.off('error', reject); resolve() })
    })
    this.#server = server
    this.opts.logger.info({ address: this.address() }, 'http listening')
  }

  address(): { address: string; port: number } | undefined {
    const a = this.#server?.address() as AddressInfo | null | undefined
    return a ? { address: a.address, port: a.port } : undefined
  }

  async stop(): Promise<void> {
    const server = this.#server
    if (!server) return
    this.#server = undefined
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeIdleConnections()
    // give running downloads a moment, then cut them: stopping must not hang on a slow client
    const timer = setTimeout(() => { for (const s of this.#sockets) s.destroy() }, 1_000)
    await closed
    clearTimeout(timer)
  }
}
